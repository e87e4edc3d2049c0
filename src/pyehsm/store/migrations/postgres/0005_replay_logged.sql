-- pyehsm schema 5: the replay table is LOGGED (docs/operations.md, "Replay protection: the rule and its cost").
-- An UNLOGGED table is emptied by a crash or an immediate shutdown of PostgreSQL and is not replicated to
-- standbys, so every request accepted in the last minutes could be sent again and executed. A logged table
-- keeps its rows through a crash and reaches the standbys with the rest of the WAL.
ALTER TABLE replay SET LOGGED;
