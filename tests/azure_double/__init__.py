"""A test double of Azure Resource Manager / Azure ML on 127.0.0.1, for the real azure-ai-ml SDK."""
