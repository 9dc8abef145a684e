"""Tracking: a training script run as an MLflow run (runner, bootstrap, notebooks), and the
MLflow store behind every workspace, served by a worker process the server talks to."""
