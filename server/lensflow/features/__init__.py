"""LSP features, one concern per module: each is a `Feature` that owns its state and names its
handlers. A feature imports no other feature; what several show alike is in `views`."""
