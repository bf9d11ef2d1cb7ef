"""Random codes: the floor every method must clear.

Each item gets a code drawn at random, independently of its content and of its other modality: the code
is a pseudo-random function of the item's bytes (BLAKE2b of the row, keyed by the seed and the modality),
so encoding is deterministic and the same item always gets the same code, yet image and text codes share
nothing. Its expected mAP is the fraction of relevant database items, averaged over queries; any
learned method has to beat that.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from ..train import HashingMethod, MethodConfig, Phase

__all__ = ["RandomCodesConfig", "RandomCodes"]


@dataclass(frozen=True)
class RandomCodesConfig(MethodConfig):
    """bits and seed (the seed keys the hash, so another seed gives another set of random codes)."""


class RandomCodes(HashingMethod):
    """Codes in {-1, +1} drawn per item from a keyed hash of its bytes (see the module docstring)."""

    name = "random"
    config_class = RandomCodesConfig
    encoders: dict[str, str] = {}

    def build(self, data):
        return {}

    def phases(self, train):
        return [Phase("fit", 1, lambda e: {}, select=False)]

    def _require_fitted(self):
        if self.spec is None:
            raise ValueError("RandomCodes is not fitted; call fit() or load() first")

    def output(self, modality, x):
        rows = np.ascontiguousarray(x.cpu().numpy())
        key = f"{self.config.seed}:{modality}".encode()
        n_bytes = (self.config.bits + 7) // 8
        out = np.empty((len(rows), n_bytes), dtype=np.uint8)
        for i, row in enumerate(rows):  # one hash per item: O(n) and independent of the database size
            digest = hashlib.blake2b(row.tobytes(), key=key, digest_size=min(64, n_bytes)).digest()
            while len(digest) < n_bytes:  # more than 512 bits: extend by re-hashing
                digest += hashlib.blake2b(digest, key=key, digest_size=min(64, n_bytes - len(digest))).digest()
            out[i] = np.frombuffer(digest, dtype=np.uint8)
        bits = np.unpackbits(out, axis=1)[:, :self.config.bits]
        return torch.from_numpy(bits.astype(np.float32) - 0.5)
