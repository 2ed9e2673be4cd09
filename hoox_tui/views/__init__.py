"""The cockpit's nine views, in F1..F9 order."""
