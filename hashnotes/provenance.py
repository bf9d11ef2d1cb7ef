"""Where a result came from: the dataset, the split, the software and the threads it ran with.

Every checkpoint and every command-line result row embeds :func:`dataset_record` and
:func:`environment_record`, so a number can be traced back to its inputs.
"""
from __future__ import annotations

import platform
import sys

__all__ = ["dataset_record", "environment_record"]


def dataset_record(ds) -> dict:
    """JSON-safe description of a :class:`~hashnotes.data.CrossModalDataset`: name, sizes and split.

    ``None`` gives ``None`` (a model fitted on a bare ``PairSet`` knows no dataset).
    """
    if ds is None:
        return None
    split = getattr(ds, "split", None)
    return {
        "name": str(getattr(ds, "name", "unknown")),
        "sizes": {part: int(len(getattr(ds, part))) for part in ("query", "database", "train", "val")
                  if getattr(ds, part, None) is not None},
        "split": split.as_dict() if hasattr(split, "as_dict") else None,
    }


def environment_record() -> dict:
    """Package, torch and numpy versions, Python, platform and the thread counts in effect."""
    import numpy as np
    import torch

    from . import __version__

    return {
        "hashnotes": __version__,
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch_threads": int(torch.get_num_threads()),
    }
