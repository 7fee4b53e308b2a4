"""Engines with no web, ORM or global state. Nothing here imports ore outside core."""
