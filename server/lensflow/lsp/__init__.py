"""The LSP plumbing, in one place: JSON-RPC hardening, framing, command dispatch, features as
objects, progress and the client helpers. Domain code never imports this package."""
