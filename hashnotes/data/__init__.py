"""Data: the embedded toy generator, loaders for the real datasets, and protocol splits."""
from .base import CrossModalDataset, PairSet, Split, take_rows

__all__ = ["CrossModalDataset", "PairSet", "Split", "take_rows"]
