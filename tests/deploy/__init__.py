"""Local inference cluster: capacity, supervisord, state, deployments (real processes)."""
