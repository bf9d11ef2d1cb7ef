"""The shared alternating trainer: loop order, batches, buffers, B-step hook, history, model selection."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from hashnotes.data.base import PairSet
from hashnotes.train import AlternatingHashing, DataSpec, TrainConfig, resolve_device


def _pairs(n=10, d_img=6, d_txt=5, n_labels=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, n_labels)) < 0.5).astype(np.uint8)
    labels[:, 0] |= labels.sum(1) == 0
    return PairSet(images=rng.normal(size=(n, d_img)).astype(np.float32),
                   texts=rng.normal(size=(n, d_txt)).astype(np.float32), labels=labels,
                   ids=np.arange(n, dtype=np.int64))


@dataclass(frozen=True)
class ToyConfig(TrainConfig):
    lr: float = 0.05


class Recorder(AlternatingHashing):
    """A minimal method: linear nets, loss = ||out - B_batch||^2; records every hook call."""

    config_class = ToyConfig
    name = "recorder"

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.calls = []

    def build_networks(self, train):
        self.calls.append(("build", type(train).__name__))
        return nn.Linear(train.image_shape[0], self.config.bits), nn.Linear(train.text_dim, self.config.bits)

    def prepare(self, train, state):
        self.calls.append(("prepare", state.n))
        state.extra["prepared"] = True

    def b_step(self, state):
        self.calls.append(("b_step", state.epoch))
        return super().b_step(state)

    def batch_loss(self, modality, idx, out, state):
        self.calls.append((modality, idx.tolist()))
        # the buffer already holds the detached batch outputs
        torch.testing.assert_close(state.buffer(modality)[idx], out.detach())
        loss = ((out - state.B[idx]) ** 2).mean()
        return loss, {"q": float(loss.detach())}

    def objective(self, state):
        q = float(((state.F - state.B) ** 2).sum() + ((state.G - state.B) ** 2).sum())
        return {"quantization": q, "total": q}


def test_loop_order_batches_and_buffers():
    train = _pairs(n=10)
    m = Recorder(bits=4, epochs=2, batch_size=4, eval_every=0).fit(train, device="cpu", progress=False)
    calls = m.calls
    assert calls[0] == ("build", "PairSet")
    assert calls[1] == ("b_step", 0)  # the initial B in setup
    assert calls[2] == ("prepare", 10)
    iters = math.ceil(10 / 4)
    # per epoch: B-step first, then text iterations, then image iterations
    epoch_calls = calls[3:]
    assert len(epoch_calls) == 2 * (1 + 2 * iters)
    for e in range(2):
        block = epoch_calls[e * (1 + 2 * iters):(e + 1) * (1 + 2 * iters)]
        assert block[0] == ("b_step", e)
        assert [c[0] for c in block[1:]] == ["text"] * iters + ["image"] * iters
        for _, idx in block[1:]:
            assert len(idx) == 4 and len(set(idx)) == 4 and all(0 <= i < 10 for i in idx)
    assert m.state.extra["prepared"]
    assert len(m.history) == 2 and m.history[0]["epoch"] == 1
    assert {"loss/quantization", "loss/total", "lr_image", "lr_text", "seconds"} <= set(m.history[0])
    assert m.best_epoch == 2  # no validation: the last epoch


def test_fresh_batches_per_iteration_differ():
    m = Recorder(bits=4, epochs=1, batch_size=3, eval_every=0).fit(_pairs(n=12), device="cpu", progress=False)
    idx = [tuple(c[1]) for c in m.calls if c[0] in ("text", "image")]
    assert len(idx) == 8 and len(set(idx)) > 1


def test_buffers_hold_outputs_of_latest_forward():
    train = _pairs(n=6)
    m = Recorder(bits=3, epochs=1, batch_size=6, eval_every=0).fit(train, device="cpu", progress=False)
    # batch = all items: after the image loop F holds the outputs of the network before its last step
    assert m.state.F.abs().sum() > 0 and m.state.G.abs().sum() > 0
    assert torch.all((m.state.B == 1) | (m.state.B == -1))


def test_validation_model_selection_restores_best_epoch():
    train, val = _pairs(n=16, seed=1), _pairs(n=6, seed=2)

    class Noisy(Recorder):
        """Validation scores scripted: the best epoch is 2 of 4."""

        scores = [0.2, 0.9, 0.5, 0.4]

        def validate(self, val, train):
            e = len(self.history)
            self.snap = getattr(self, "snap", {})
            self.snap[e + 1] = {k: v.clone() for k, v in self.text_net.state_dict().items()}
            return {"val_map_i2t": self.scores[e], "val_map_t2i": self.scores[e]}

    m = Noisy(bits=4, epochs=4, batch_size=4).fit(train, val=val, device="cpu", progress=False)
    assert m.best_epoch == 2
    for k, v in m.text_net.state_dict().items():
        torch.testing.assert_close(v, m.snap[2][k])
    assert [h["val_map_i2t"] for h in m.history] == Noisy.scores
    m2 = Noisy(bits=4, epochs=4, batch_size=4, restore_best=False).fit(train, val=val, device="cpu", progress=False)
    for k, v in m2.text_net.state_dict().items():
        torch.testing.assert_close(v, m2.snap[4][k])


def test_eval_every_and_real_validation_keys():
    train, val = _pairs(n=16, seed=1), _pairs(n=6, seed=2)
    m = Recorder(bits=4, epochs=3, batch_size=8, eval_every=2).fit(train, val=val, device="cpu", progress=False)
    has = ["val_map_i2t" in h for h in m.history]
    assert has == [False, True, True]  # epoch 2, and the last epoch always
    assert 0.0 <= m.history[1]["val_map_i2t"] <= 1.0


def test_deterministic_and_no_global_seeding():
    train = _pairs(n=12)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = Recorder(bits=4, epochs=2, batch_size=5, eval_every=0, seed=7).fit(train, device="cpu", progress=False)
    after = torch.rand(3)
    torch.testing.assert_close(before, after)  # fit forks the RNG: the caller's stream is untouched
    b = Recorder(bits=4, epochs=2, batch_size=5, eval_every=0, seed=7).fit(train, device="cpu", progress=False)
    np.testing.assert_array_equal(a.encode_text(train.texts), b.encode_text(train.texts))
    assert [c for c in a.calls] == [c for c in b.calls]


def test_encode_restores_training_mode_and_returns_int8():
    train = _pairs(n=8)
    m = Recorder(bits=5, epochs=1, batch_size=4, eval_every=0, encode_batch_size=3).fit(train, device="cpu",
                                                                                         progress=False)
    m.text_net.train()
    codes = m.encode_text(train.texts)
    assert m.text_net.training
    assert codes.dtype == np.int8 and codes.shape == (8, 5) and set(np.unique(codes)) <= {-1, 1}
    z = m.text_net(torch.as_tensor(train.texts))
    np.testing.assert_array_equal(codes, np.where(z.detach().numpy() >= 0, 1, -1))


def test_save_load_roundtrip(tmp_path):
    train = _pairs(n=8)
    m = Recorder(bits=5, epochs=2, batch_size=4, eval_every=0).fit(train, device="cpu", progress=False)
    p = m.save(tmp_path / "m.pt")
    back = AlternatingHashing.load(p)  # the base class dispatches to the saved class
    assert type(back) is Recorder and back.config == m.config and back.history == m.history
    np.testing.assert_array_equal(back.encode_image(train.images), m.encode_image(train.images))
    assert back.spec == DataSpec((6,), 5, 3)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        Recorder.load(tmp_path / "missing.pt")


def test_bad_inputs():
    with pytest.raises(ValueError, match="bits"):
        TrainConfig(bits=0)
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="eval_every"):
        TrainConfig(eval_every=-1)
    with pytest.raises(ValueError, match="at least 2"):
        Recorder(bits=4).fit(_pairs(n=10).subset([0]), progress=False)
    bad = _pairs(n=6)
    bad.texts[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Recorder(bits=4).fit(bad, progress=False)
    with pytest.raises(ValueError, match="not fitted"):
        Recorder(bits=4).encode_image(np.zeros((2, 6), np.float32))
    with pytest.raises(ValueError, match="config must be"):
        Recorder(config={"bits": 4})
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(ValueError, match="CUDA"):
            resolve_device("cuda")


def test_loss_nan_raises():
    class Exploding(Recorder):
        def batch_loss(self, modality, idx, out, state):
            return out.sum() * float("nan"), {}

    with pytest.raises(FloatingPointError, match="batch loss"):
        Exploding(bits=4, epochs=1, batch_size=4, eval_every=0).fit(_pairs(n=8), device="cpu", progress=False)
