"""`smartlinks webhooks`: deliver the queued click webhooks (signed POSTs, with retries)."""
