"""The long-running workers beside the admin, one package per concern.

- ``sync.publish``: the publisher, Postgres's sync_outbox -> Redis records (`smartlinks sync`).
- ``sync.clicks``: the click pipeline, the click stream -> Postgres + actions + the webhook
  queue (`smartlinks drain`).
- ``sync.webhooks``: delivery of the queued click webhooks (`smartlinks webhooks`).
- ``sync.worker``: the one worker loop they share; ``sync.connections``: where the servers are.

None of them imports admin or smartlinks (tests/test_layers.py).
"""
