"""API routes: domains."""
