"""Workspaces: where runs, models and services live, behind one interface (`base.Workspace`).
`tracking/` and `insight/` serve every workspace; `local/` and `azureml/` are the two kinds."""
