-- local placeholder (untracked): another helper's 0011 lands at merge
SELECT 1;
