"""Training: the method interface and the strategies built on it.

* :mod:`.base` — :class:`HashingMethod` (config + presets, the ``fit`` template with phases, history and
  validation-only model selection, encoding, evaluation, save/load over named modules and artefacts);
* :mod:`.networks` — :class:`DeepConfig`, the network/optimiser settings shared by the deep methods;
* :mod:`.alternating` — :class:`AlternatingHashing`, the F/G/B loop of DCMH, CDHCR and TDH;
* :mod:`.batches` — the papers' batch schedules; :mod:`.checkpoint` — the checkpoint format.
"""
from .alternating import AlternatingConfig, AlternatingHashing, TrainState
from .base import DataSpec, HashingMethod, MethodConfig, Phase, TrainConfig, check_pairs, resolve_device
from .networks import DeepConfig

__all__ = ["HashingMethod", "MethodConfig", "TrainConfig", "DataSpec", "Phase", "resolve_device", "check_pairs",
           "DeepConfig", "AlternatingConfig", "AlternatingHashing", "TrainState"]
