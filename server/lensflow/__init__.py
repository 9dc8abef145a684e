"""Lensflow: a language server that tracks, registers and deploys models from the script."""

__version__ = "0.1.0"
