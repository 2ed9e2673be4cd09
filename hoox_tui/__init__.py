"""The hoox cockpit: a Textual app that watches and steers the edge (local or remote).

Nothing here is imported on a CLI command's path: `hoox tui` (and bare `hoox`) import it inside the
command function, so other commands never pay for Textual.
"""
