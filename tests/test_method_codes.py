"""The training algorithms of DCMH, CDHCR and TDH are pinned by the codes of a short seeded fit.

``tests/data/method_codes.npz`` holds 240 toy pairs and the codes each method's ``.small()`` preset gave for
them (3 epochs, 16 bits, seed 5, batch 32, one thread throughout) when the file was written with the code as it was before the method interface (commit c69b0c7). Any change to a method's
loop order, buffer initialisation, epoch-1 B rule, batch draws, losses, optimiser or model selection changes
these codes. Regenerate the file (``tests/data/make_method_codes.py``) only for an intended change.

The DCMH codes were re-recorded (same inputs) when the metric kernels stopped starting numba's OpenMP layer:
the first validation used to switch torch from the one thread set here to two for the remaining epochs,
and with one thread throughout 9 of the 640 text bits differ. CDHCR and TDH codes were unchanged.
All three were re-recorded when the ``.small()`` presets moved to one shared reduced budget
(``hashnotes.train.networks.SMALL_BUDGET``) and CDHCR to DCH's class-balance pair weights, and again when
Adam moved to PyTorch's fused kernel and TDH's miner to one key matrix per draw (numpy's generator).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from method_codes_case import CASES, fit_and_encode

FIXTURE = Path(__file__).parent / "data" / "method_codes.npz"


@pytest.fixture(scope="module")
def recorded():
    with np.load(FIXTURE) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("name", CASES)
def test_codes_identical_to_recorded(name, recorded):
    inputs = {k[len("input_"):]: v for k, v in recorded.items() if k.startswith("input_")}
    threads = torch.get_num_threads()
    try:
        got = fit_and_encode(name, inputs)
    finally:
        torch.set_num_threads(threads)
    # the recorded codes are not degenerate (several distinct codes per modality)
    for modality in ("image", "text"):
        assert len(np.unique(recorded[f"{name}_{modality}"], axis=0)) > 5
        np.testing.assert_array_equal(got[modality], recorded[f"{name}_{modality}"],
                                      err_msg=f"{name} {modality} codes differ from the recorded ones")
    assert int(got["best_epoch"]) == int(recorded[f"{name}_best_epoch"])
