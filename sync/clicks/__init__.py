"""`smartlinks drain`: the click pipeline. The click stream into Postgres (drain, recorder),
each human click's actions, user agents, and the webhook deliveries queued in the same
transaction (webhook_queue; sync.webhooks delivers them)."""
