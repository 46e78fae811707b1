"""`smartlinks sync`: publish Postgres changes (the sync_outbox) to Redis as versioned records,
and reconcile the two (publisher, reconcile, snapshots of rows as records, the Redis store)."""
