"""The shared alternating trainer: loop order, batches, buffers, B-step hook, history, model selection."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from hashnotes import methods
from hashnotes.data.base import PairSet
from hashnotes.train import (AlternatingConfig, AlternatingHashing, DataSpec, HashingMethod, Phase, TrainConfig,
                             resolve_device)


def _pairs(n=10, d_img=6, d_txt=5, n_labels=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, n_labels)) < 0.5).astype(np.uint8)
    labels[:, 0] |= labels.sum(1) == 0
    return PairSet(images=rng.normal(size=(n, d_img)).astype(np.float32),
                   texts=rng.normal(size=(n, d_txt)).astype(np.float32), labels=labels,
                   ids=np.arange(n, dtype=np.int64))


@dataclass(frozen=True)
class ToyConfig(AlternatingConfig):
    optimizer: str = "sgd"
    lr_image: float = 0.05
    lr_text: float = 0.05
    first_b: str = "sign"


class Recorder(AlternatingHashing):
    """A minimal method: linear nets, loss = ||out - B_batch||^2; records every hook call."""

    config_class = ToyConfig
    name = "recorder"

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.calls = []

    def build(self, data):
        self.calls.append(("build", type(data).__name__))
        return {"image": nn.Linear(data.image_shape[0], self.config.bits),
                "text": nn.Linear(data.text_dim, self.config.bits)}

    def prepare_state(self, train, state):
        self.calls.append(("prepare", state.n))
        state.extra["prepared"] = True

    def b_step(self, state):
        self.calls.append(("b_step", state.epoch))
        return super().b_step(state)

    def batch_loss(self, modality, idx, out, state):
        self.calls.append((modality, idx.tolist()))
        # the buffer already holds the detached batch outputs
        torch.testing.assert_close(state.buffer(modality)[idx], out.detach())
        q = ((out - state.B[idx]) ** 2).sum()
        return {"quantization": q, "total": q}

    def objective(self, state):
        q = float(((state.F - state.B) ** 2).sum() + ((state.G - state.B) ** 2).sum())
        return {"quantization": q, "total": q}


def test_loop_order_batches_and_buffers():
    train = _pairs(n=10)
    m = Recorder(bits=4, epochs=2, batch_size=4, eval_every=0).fit(train, device="cpu", progress=False)
    calls = m.calls
    assert calls[0] == ("build", "PairSet")
    assert calls[1] == ("prepare", 10)
    assert calls[2] == ("b_step", 0)  # the initial B, after prepare_state
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

        def validate(self, val, database):
            e = len(self.history)
            self.snap = getattr(self, "snap", {})
            self.snap[e + 1] = {k: v.clone() for k, v in self.modules["text"].state_dict().items()}
            return {"val_map_i2t": self.scores[e], "val_map_t2i": self.scores[e]}

    m = Noisy(bits=4, epochs=4, batch_size=4).fit(train, val=val, device="cpu", progress=False)
    assert m.best_epoch == 2
    for k, v in m.modules["text"].state_dict().items():
        torch.testing.assert_close(v, m.snap[2][k])
    assert [h["val_map_i2t"] for h in m.history] == Noisy.scores
    m2 = Noisy(bits=4, epochs=4, batch_size=4, restore_best=False).fit(train, val=val, device="cpu", progress=False)
    for k, v in m2.modules["text"].state_dict().items():
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
    m.modules["text"].train()
    codes = m.encode_text(train.texts)
    assert m.modules["text"].training
    assert codes.dtype == np.int8 and codes.shape == (8, 5) and set(np.unique(codes)) <= {-1, 1}
    z = m.modules["text"](torch.as_tensor(train.texts))
    np.testing.assert_array_equal(codes, np.where(z.detach().numpy() >= 0, 1, -1))


def test_save_load_roundtrip(tmp_path):
    train = _pairs(n=8)
    m = Recorder(bits=5, epochs=2, batch_size=4, eval_every=0).fit(train, device="cpu", progress=False)
    p = m.save(tmp_path / "m.pt")
    back = HashingMethod.load(p)  # the base class dispatches to the saved class
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
            return {"total": out.sum() * float("nan")}

    with pytest.raises(FloatingPointError, match="batch loss"):
        Exploding(bits=4, epochs=1, batch_size=4, eval_every=0).fit(_pairs(n=8), device="cpu", progress=False)


def test_bad_device_strings_name_the_problem():
    for bad in ("gpu", "CPU", "", " cpu", "tpu:0"):
        with pytest.raises(ValueError, match="device"):
            resolve_device(bad)


# ---------------------------------------------------------------------------------------------- the base class
@dataclass(frozen=True)
class StagedConfig(TrainConfig):
    warm_epochs: int = 2


class Staged(HashingMethod):
    """Three modules, an artefact and two phases: what UGACH- and DAPH-like methods need from the base."""

    config_class = StagedConfig
    name = "staged"
    encoders = {"image": "img", "text": "txt"}

    def build(self, data):
        return {"img": nn.Linear(data.image_shape[0], self.config.bits), "txt": nn.Linear(data.text_dim, self.config.bits),
                "aux": nn.Linear(data.n_labels, self.config.bits)}

    def prepare(self, train):
        self.opt = torch.optim.SGD([p for m in self.modules.values() for p in m.parameters()], lr=0.1)
        self.x = torch.as_tensor(train.images)
        self.t = torch.as_tensor(train.texts)
        self.y = torch.as_tensor(train.labels, dtype=torch.float32)

    def _freeze_targets(self):
        with torch.no_grad():
            self.artifacts["targets"] = torch.tanh(self.modules["aux"](self.y))

    def _warm(self, e):
        loss = ((torch.tanh(self.modules["aux"](self.y)) - 0.5) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss/total": float(loss.detach())}

    def _main(self, e):
        tgt = self.artifacts["targets"]
        loss = ((torch.tanh(self.modules["img"](self.x)) - tgt) ** 2).mean() + \
            ((torch.tanh(self.modules["txt"](self.t)) - tgt) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss/total": float(loss.detach())}

    def phases(self, train):
        return [Phase("warm", self.config.warm_epochs, self._warm, select=False),
                Phase("main", self.config.epochs, self._main, start=self._freeze_targets)]


def test_phases_history_selection_and_artifacts_round_trip(tmp_path):
    train, val = _pairs(n=20, seed=3), _pairs(n=8, seed=4)
    m = Staged(bits=4, epochs=3, eval_every=1).fit(train, val=val, device="cpu", progress=False)
    assert [h["phase"] for h in m.history] == ["warm", "warm", "main", "main", "main"]
    assert [h["epoch"] for h in m.history] == [1, 2, 3, 4, 5]
    assert ["val_map_i2t" in h for h in m.history] == [False, False, True, True, True]  # only the selecting phase
    assert m.best_epoch in (3, 4, 5) and "targets" in m.artifacts
    path = m.save(tmp_path / "staged.pt")
    back = HashingMethod.load(path)
    assert type(back) is Staged and set(back.modules) == {"img", "txt", "aux"}
    torch.testing.assert_close(back.artifacts["targets"], m.artifacts["targets"])
    np.testing.assert_array_equal(back.encode_image(train.images), m.encode_image(train.images))
    np.testing.assert_array_equal(back.encode_text(val.texts), m.encode_text(val.texts))
    assert back.history == m.history and back.best_epoch == m.best_epoch


def test_fit_on_a_dataset_records_it_and_saves_it(tmp_path):
    from hashnotes import data

    ds = data.toy(n=200, image_size=32, seed=1)
    # a dataset whose images are features (Staged's linear image module needs vectors)
    from hashnotes.data.base import CrossModalDataset, PairSet as PS

    def feat(p):
        return PS(images=p.images.reshape(len(p), -1)[:, :12].astype(np.float32), texts=p.texts, labels=p.labels,
                  ids=p.ids)

    fds = CrossModalDataset(name="toy-features", query=feat(ds.query), database=feat(ds.database),
                            train=feat(ds.train), val=feat(ds.val), split=ds.split, label_names=ds.label_names)
    m = Staged(bits=4, epochs=1, warm_epochs=1).fit(fds, device="cpu", progress=False)
    assert m.dataset["name"] == "toy-features" and m.dataset["split"] == ds.split.as_dict()
    assert m.dataset["sizes"]["train"] == len(ds.train)
    assert "val_map_i2t" in m.history[-1]  # the dataset's validation split was used
    assert m.environment["torch_threads"] >= 1 and "torch" in m.environment
    back = HashingMethod.load(m.save(tmp_path / "m.pt"))
    assert back.dataset == m.dataset and back.environment == m.environment


def test_checkpoint_errors(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable hashnotes checkpoint"):
        HashingMethod.load(bad)
    torch.save({"format": "something-else"}, str(tmp_path / "other.pt"))
    with pytest.raises(ValueError, match="hashnotes-checkpoint-2"):
        HashingMethod.load(tmp_path / "other.pt")
    m = Recorder(bits=4, epochs=1, batch_size=4, eval_every=0).fit(_pairs(n=8), device="cpu", progress=False)
    p = m.save(tmp_path / "rec.pt")
    with pytest.raises(ValueError, match="holds a Recorder, not a Staged"):
        Staged.load(p)


# ---------------------------------------------------------------------------------------------- loop settings
def _trace_first_epoch(model, train):
    """Fit one epoch, recording the buffers and B before the first step and the modality order."""
    seen = {"order": []}
    orig_train, orig_update = model.train_modality, model.update_b

    def train_modality(modality, state):
        seen["order"].append(modality)
        return orig_train(modality, state)

    def update_b(state):
        B = orig_update(state)
        if "B0" not in seen:
            seen.update(F0=state.F.clone(), G0=state.G.clone(), B0=B.clone())
        return B

    model.train_modality, model.update_b = train_modality, update_b
    model.fit(train, device="cpu", progress=False)
    return seen


def test_settings_control_order_buffers_and_first_b():
    train = _pairs(n=12)
    base = dict(bits=4, epochs=1, batch_size=6, eval_every=0)
    s = _trace_first_epoch(Recorder(**base, modality_order=("image", "text")), train)
    assert s["order"] == ["image", "text"]
    s = _trace_first_epoch(Recorder(**base, buffer_init="zeros", first_b="zero"), train)
    assert not s["F0"].any() and not s["G0"].any() and not s["B0"].any()  # B = 0 while F = G = 0
    s = _trace_first_epoch(Recorder(**base, buffer_init="zeros", first_b="sign"), train)
    assert torch.equal(s["B0"], torch.ones_like(s["B0"]))  # sign(0) = +1 everywhere
    s = _trace_first_epoch(Recorder(**base, buffer_init="randn", first_b="zero"), train)
    assert s["F0"].std() > 0.5 and set(s["B0"].unique().tolist()) == {-1.0, 1.0}  # the rule needs F = G = 0
    with pytest.raises(ValueError, match="modality_order"):
        ToyConfig(modality_order=("text", "text"))
    with pytest.raises(ValueError, match="buffer_init"):
        ToyConfig(buffer_init="ones")
    with pytest.raises(ValueError, match="first_b"):
        ToyConfig(first_b="one")


# What the papers prescribe for the alternating loop (text network first in all three; DCMH-MATLAB's zero
# buffers with B = 0 in epoch 1 for DCMH and TDH; random buffers and the B-step from the start for CDHCR).
PRESCRIBED = {
    ("dcmh", "paper"): (["text", "image"], "zeros"), ("dcmh", "small"): (["text", "image"], "zeros"),
    ("tdh", "paper"): (["text", "image"], "zeros"), ("tdh", "small"): (["text", "image"], "randn"),
    ("cdhcr", "paper"): (["text", "image"], "randn"), ("cdhcr", "small"): (["text", "image"], "randn"),
}


@pytest.mark.parametrize("name,preset", sorted(PRESCRIBED))
def test_each_method_runs_its_prescribed_loop(name, preset):
    order, init = PRESCRIBED[(name, preset)]
    train = _pairs(n=16, d_img=6, d_txt=5, seed=7)
    cls = methods.get(name)
    model = getattr(cls, preset)(bits=4, epochs=1, batch_size=8, eval_every=0, feature_hidden=(8,),
                                 text_hidden=(8,))
    s = _trace_first_epoch(model, train)
    assert s["order"] == order
    if init == "zeros":
        assert not s["F0"].any() and not s["G0"].any()
        assert not s["B0"].any(), "epoch 1 must start from B = 0 (MATLAB's sign(0) = 0)"
    else:
        assert s["F0"].std() > 0.5 and s["G0"].std() > 0.5
        assert set(s["B0"].unique().tolist()) == {-1.0, 1.0}


@pytest.mark.parametrize("name,rule", [("dcmh", "zero"), ("tdh", "zero"), ("cdhcr", "sign")])
def test_each_method_applies_its_epoch_1_b_rule(name, rule):
    """With zero buffers forced, the first B shows the method's rule: B = 0 (DCMH-MATLAB, TDH) or the B-step
    from the start (CDHCR: sign(0) = +1 everywhere)."""
    train = _pairs(n=16, d_img=6, d_txt=5, seed=8)
    model = methods.get(name).paper(bits=4, epochs=1, batch_size=8, eval_every=0, feature_hidden=(8,),
                                    text_hidden=(8,), buffer_init="zeros")
    s = _trace_first_epoch(model, train)
    want = torch.zeros_like(s["B0"]) if rule == "zero" else torch.ones_like(s["B0"])
    assert torch.equal(s["B0"], want)


def test_objective_row_on_a_fixed_item_sample_or_off():
    from hashnotes.losses import pairwise

    train = _pairs(n=40, seed=9)
    kw = dict(bits=4, epochs=2, batch_size=8, eval_every=0, feature_hidden=(8,), text_hidden=(8,))
    m = methods.DCMH.paper(**kw, objective_items=15).fit(train, device="cpu", progress=False)
    rows = m.state.extra["objective_rows"]
    assert len(rows) == 15 and len(set(rows.tolist())) == 15
    st = m.state
    want = pairwise.objective(st.F[rows], st.G[rows], st.B[rows], labels=st.labels[rows], gamma=1.0, eta=1.0)
    assert m.history[-1]["loss/total"] == pytest.approx(float(want["total"]), rel=1e-6)
    full = methods.DCMH.paper(**kw).fit(train, device="cpu", progress=False)  # 40 < 4096: every item
    assert "objective_rows" not in full.state.extra
    off = methods.DCMH.paper(**kw, objective_items=0).fit(train, device="cpu", progress=False)
    assert not any(k.startswith("loss/") for k in off.history[0])
    # the sample has its own generator: training itself is unchanged
    np.testing.assert_array_equal(off.encode_text(train.texts), full.encode_text(train.texts))


def test_validation_ranks_against_a_fixed_sample_of_training_items():
    train, val = _pairs(n=30, seed=5), _pairs(n=6, seed=6)
    sizes = []

    class Counting(Recorder):
        def validate(self, val, database):
            sizes.append(tuple(database.ids.tolist()))
            return super().validate(val, database)

    Counting(bits=4, epochs=2, batch_size=5, val_database=12).fit(train, val=val, device="cpu", progress=False)
    assert len(sizes) == 2 and len(sizes[0]) == 12 and sizes[0] == sizes[1]  # fixed across epochs
    sizes.clear()
    Counting(bits=4, epochs=1, batch_size=5, val_database=None).fit(train, val=val, device="cpu", progress=False)
    assert len(sizes[0]) == 30
    with pytest.raises(ValueError, match="val_database"):
        ToyConfig(val_database=0)


def test_a_model_fitted_on_raw_captions_encodes_new_strings_and_keeps_its_vectorizer(tmp_path):
    from hashnotes import data
    from hashnotes.data import writers

    toy = data.toy(n=120, image_size=16, seed=4)
    p = toy.database
    caps = [", ".join(toy.vocab[j] for j in np.nonzero(r)[0]) for r in p.texts]
    names = writers.write_images(tmp_path / "img", np.asarray(p.images), ext="png")
    writers.write_clip_index(tmp_path, [f"./img/{s}" for s in names], caps, p.labels)
    ds = data.load(tmp_path, image_size=16, text={"tokens": "tags", "min_df": 1}, image_features=None,
                   verbose=False)
    m = methods.DCMH.small(bits=8, epochs=1, batch_size=16, small_width=4, eval_every=0).fit(ds, progress=False)
    assert m.text_vectorizer is ds.text_vectorizer
    new = ["red disc, blue frame", "nothing we know"]
    np.testing.assert_array_equal(m.encode_text(new), m.encode_text(ds.text_vectorizer.transform(new)))
    back = HashingMethod.load(m.save(tmp_path / "m.pt"))
    np.testing.assert_array_equal(back.encode_text(new), m.encode_text(new))
    plain = methods.DCMH.small(bits=8, epochs=1, batch_size=16, small_width=4, eval_every=0).fit(
        ds.train, progress=False)
    with pytest.raises(ValueError, match="raw strings"):
        plain.encode_text(new)


def test_loader_workers_prefetch_on_disk_images_without_changing_the_fit(tmp_path):
    import h5py

    from hashnotes import data

    toy = data.toy(n=200, image_size=16, seed=6)
    with h5py.File(tmp_path / "img.h5", "w") as f:
        f["images"] = np.asarray(toy.train.images)
    with h5py.File(tmp_path / "img.h5", "r") as f:
        disk = PairSet(images=f["images"], texts=toy.train.texts, labels=toy.train.labels, ids=toy.train.ids)
        codes = []
        for workers in (0, 2):
            m = methods.DCMH.small(bits=8, epochs=2, batch_size=16, small_width=4, eval_every=0, loader_workers=workers)
            m.fit(disk, device="cpu", progress=False)
            codes.append(m.encode_image(toy.query.images))
    np.testing.assert_array_equal(codes[0], codes[1])


def test_amp_runs_the_networks_in_bfloat16_and_the_losses_in_float32():
    train = _pairs(n=24, seed=12)
    dtypes = []

    class Watch(Recorder):
        def batch_loss(self, modality, idx, out, state):
            dtypes.append(out.dtype)
            return super().batch_loss(modality, idx, out, state)

    m = Watch(bits=4, epochs=1, batch_size=8, eval_every=0, amp=True).fit(train, device="cpu", progress=False)
    assert dtypes and set(dtypes) == {torch.float32}
    assert m.state.F.dtype == torch.float32 and torch.isfinite(m.state.F).all()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert m.modules["text"](torch.as_tensor(train.texts)).dtype == torch.bfloat16  # autocast applies


def test_phase_seconds_add_up_each_phase_and_validation():
    train, val = _pairs(n=20, seed=3), _pairs(n=8, seed=4)
    m = Staged(bits=4, epochs=2, warm_epochs=1).fit(train, val=val, device="cpu", progress=False)
    s = m.phase_seconds()
    assert set(s) == {"warm", "main", "validation"}
    assert s["main"] == pytest.approx(sum(h["seconds"] for h in m.history if h["phase"] == "main"))
    assert s["validation"] == pytest.approx(sum(h.get("eval_seconds", 0.0) for h in m.history))


def test_make_optimizer_takes_a_stage_rate_and_length():
    from hashnotes.train.networks import learning_rates, make_optimizer

    cfg = methods.DCMH.paper(bits=8).config  # logspace over 500 epochs from 10^-1.5
    lrs = learning_rates(cfg, "image", lr=0.2, epochs=4)
    np.testing.assert_allclose(lrs, np.logspace(np.log10(0.2), np.log10(0.2 * cfg.lr_end_ratio), 4))
    opt, sched = make_optimizer(cfg, torch.nn.Linear(2, 2).parameters(), "text", lr=0.2, epochs=4)
    seen = []
    for _ in range(4):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(seen, lrs, rtol=1e-12)
