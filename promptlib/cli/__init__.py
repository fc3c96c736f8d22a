"""The command line: a typer app, one module per command group, each command a few lines over `Library`."""
