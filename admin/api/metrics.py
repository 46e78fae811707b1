"""API routes: metrics."""
