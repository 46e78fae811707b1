"""The `smartlinks` command: roles, the embedded servers and the `up` supervisor."""
