"""`smartlinks sender`: hands queued messages to each organisation's SMS provider. It lives in
admin because it works through the app (its models, providers and session)."""
