"""API routes: contacts."""
