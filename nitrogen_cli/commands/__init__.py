"""One thin module per subcommand. Each defines `register(app)`; cli.py finds them all."""
