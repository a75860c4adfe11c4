"""Bundled model folders and the model registry (data only)."""
