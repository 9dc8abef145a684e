"""Lensflow's no-code scoring app: one lean ASGI app, served by uvicorn, that serves ONE model.

It runs in its own service process and imports nothing else of `lensflow`: only the standard
library, numpy, and the model framework's own library (imported lazily, per framework).
"""
