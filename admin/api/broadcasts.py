"""API routes: broadcasts."""
