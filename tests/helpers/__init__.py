"""Helpers the tests share: a tiny model, target set and noise video."""
