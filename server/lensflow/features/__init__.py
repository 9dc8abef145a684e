"""LSP features, one concern per module; each exposes `register(server)`."""
