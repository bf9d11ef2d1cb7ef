"""Regenerate ``method_codes.npz``: the codes DCMH, CDHCR and TDH produce after a short seeded toy fit.

The file pins the training algorithms: ``tests/test_method_codes.py`` retrains with the same inputs, seed and
one thread and requires identical codes. The inputs are stored in the file too, so the check does not depend
on the toy generator. Run it only when a change to a method's algorithm is intended:

    OMP_NUM_THREADS=1 python tests/data/make_method_codes.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from method_codes_case import CASES, fit_and_encode, make_inputs  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    inputs = make_inputs()
    out = {f"input_{k}": v for k, v in inputs.items()}
    for name in CASES:
        codes = fit_and_encode(name, inputs)
        for k, v in codes.items():
            out[f"{name}_{k}"] = v
        print(name, {k: v.shape for k, v in codes.items()})
    np.savez_compressed(HERE / "method_codes.npz", **out)
    print("wrote", HERE / "method_codes.npz", (HERE / "method_codes.npz").stat().st_size, "bytes")


if __name__ == "__main__":
    main()
