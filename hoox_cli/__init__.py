"""hoox command line: drives the local edge (`hoox dev ...`) and its state (db, config, secrets, signals)."""
