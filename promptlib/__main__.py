from promptlib.cli.app import main

main()
