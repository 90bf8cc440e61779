from qplan.cli.main import main

main()
