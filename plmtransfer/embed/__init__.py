"""Embedding floor: extraction orchestration and the compression methods (a registry)."""
