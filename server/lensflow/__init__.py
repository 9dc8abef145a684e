"""Lensflow: a language server that tracks, registers and deploys models from the training script."""

__version__ = "0.1.0"
