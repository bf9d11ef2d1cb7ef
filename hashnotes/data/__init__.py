"""Data: the embedded toy generator, loaders for the real datasets, and protocol splits."""
from .base import CrossModalDataset, PairSet, Split, take_rows
from .loaders import shared_data_dir
from .protocol import PROTOCOLS, Protocol, apply_split, make_split, toy_sizes
from .toy import toy, toy_pairs

__all__ = ["CrossModalDataset", "PairSet", "Split", "take_rows", "PROTOCOLS", "Protocol", "apply_split",
           "make_split", "toy_sizes", "toy", "toy_pairs", "shared_data_dir"]
