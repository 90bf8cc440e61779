from qplan.cli.main import main

if __name__ == "__main__":  # worker processes re-import the main module: run nothing then
    main()
