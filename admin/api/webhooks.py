"""API routes: webhooks."""
