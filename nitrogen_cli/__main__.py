from nitrogen_cli.cli import main

main()
