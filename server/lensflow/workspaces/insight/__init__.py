"""Insight: runs compared side by side (table and plot, drawn in a child process), and MLflow's
own tracking UI started over a workspace's store."""
