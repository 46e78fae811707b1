"""Load tests: `python -m loadtest.bench` (the edge against nginx on one core), `loadtest.seed`
(bulk contacts and issued codes), and `locustfile.py` (the same traffic mix for a deployment)."""
