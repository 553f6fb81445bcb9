"""Command-line entry point (typer + rich). One module per command; each has ``register(app)``."""
