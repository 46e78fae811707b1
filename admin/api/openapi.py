"""API routes: openapi."""
