"""Serving: a FastAPI app that tags products (micro-batched), stores predictions and hosts the review page.

Import :func:`skutag.serving.app.create_app`; nothing heavy is loaded at import time.
"""
