from pyehsm.cli import main

main()
