"""What several features show alike: diagnostics from a script's problems, the serving
commands of a script's model, and runs as text. Builders only; no handler lives here."""
