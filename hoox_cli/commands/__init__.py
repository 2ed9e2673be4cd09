"""The Typer commands of `hoox`: each module parses its arguments, calls the core and prints."""
