"""Workers between Postgres and Redis: the sync publisher and the click drain."""
