"""The core under the CLI and the cockpit: the client, the edge connection, the runtime, the workspace,
deploy and provisioning. No front end lives here: nothing in it imports typer or textual."""
