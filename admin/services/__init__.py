"""The admin's core domain, apart from its transports (JSON API, web pages, CLI).

A service writes its rows and the matching sync outbox rows in one transaction; side effects
outside Postgres happen only after the commit.
"""
