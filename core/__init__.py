"""What both sides of Redis agree on: settings, record Structs, key names, codes,
hostnames and field merge. Imports nothing else of the project."""
