"""The edge: the redirector on the short domains. A Starlette app on granian that reads Redis only
(one round trip per request) and never imports admin, sync, Flask or SQLAlchemy code."""
