"""TDH: the Laplacian term, the closed-form B-step (Cholesky vs dense), relaxed vs exact B, the model."""
import itertools

import numpy as np
import pytest
import torch

from hashnotes.methods import tdh
from hashnotes.methods.tdh import GraphBStep, b_objective, b_system_matrix, exact_b_bruteforce


def random_labels(n, l, rng, p=0.3):
    lab = (rng.random((n, l)) < p).astype(np.uint8)
    lab[lab.sum(1) == 0, 0] = 1
    return lab


def slow_laplacian(lab):
    n = len(lab)
    S = np.array([[float((lab[i] & lab[j]).any()) for j in range(n)] for i in range(n)])
    return np.diag(S.sum(1)) - S, S


def test_trace_identity_and_system_matrix():
    rng = np.random.default_rng(0)
    lab = random_labels(9, 4, rng)
    L, S = slow_laplacian(lab)
    B = rng.standard_normal((9, 5))
    pair_sum = 0.5 * sum(S[i, j] * np.sum((B[i] - B[j]) ** 2) for i in range(9) for j in range(9))
    assert np.trace(B.T @ L @ B) == pytest.approx(pair_sum, rel=1e-12)
    M = b_system_matrix(lab, 0.3).numpy()
    np.testing.assert_allclose(M, 2 * np.eye(9) + 0.3 * L, atol=1e-12)
    assert np.linalg.eigvalsh(M).min() >= 2 - 1e-10


def test_trace_identity_against_similarity_module():
    from hashnotes import similarity

    rng = np.random.default_rng(1)
    lab = random_labels(12, 5, rng)
    L, S = slow_laplacian(lab)
    B = np.where(rng.random((12, 6)) < 0.5, -1.0, 1.0)
    want = 0.5 * sum(S[i, j] * np.sum((B[i] - B[j]) ** 2) for i in range(12) for j in range(12))
    assert float(similarity.laplacian_quadratic(B, lab)) == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(np.asarray(similarity.laplacian(lab), dtype=float), L)


@pytest.mark.parametrize("ratio", [0.01, 1.0, 25.0])
def test_relaxed_b_solves_the_system_and_zeroes_the_gradient(ratio):
    rng = np.random.default_rng(2)
    n, c = 40, 8
    lab = random_labels(n, 6, rng)
    F = torch.tensor(rng.standard_normal((n, c)))
    G = torch.tensor(rng.standard_normal((n, c)))
    step = GraphBStep(lab, ratio)
    Bs = step.relaxed(F, G)
    M = b_system_matrix(lab, ratio)
    torch.testing.assert_close(M @ Bs, F + G, rtol=1e-10, atol=1e-10)
    # Cholesky solution == dense solve
    torch.testing.assert_close(Bs, torch.linalg.solve(M, F + G), rtol=1e-10, atol=1e-10)
    # and it is the stationary point of J_re (autograd), gamma arbitrary
    gamma = 7.0
    L = torch.tensor(slow_laplacian(lab)[0])
    x = Bs.clone().requires_grad_(True)
    b_objective(x, F, G, L, gamma, ratio * gamma).backward()
    assert x.grad.abs().max().item() < 1e-8
    # the B-step returns its sign with sign(0) = +1
    out = step(F.float(), G.float())
    assert out.dtype == torch.float32
    assert torch.equal(out, torch.where(Bs >= 0, 1.0, -1.0).float())


def test_b_step_reuses_one_factor_and_float32_agrees():
    rng = np.random.default_rng(3)
    lab = random_labels(60, 5, rng)
    step = GraphBStep(lab, 0.5)
    factor = step.factor
    for seed in range(3):
        F = torch.tensor(np.random.default_rng(seed).standard_normal((60, 4)))
        step(F, F)
        assert step.factor is factor
    step32 = GraphBStep(lab, 0.5, dtype=torch.float32)
    F = torch.tensor(rng.standard_normal((60, 4)))
    G = torch.tensor(rng.standard_normal((60, 4)))
    torch.testing.assert_close(step32.relaxed(F, G).double(), step.relaxed(F, G), rtol=1e-4, atol=1e-5)


def test_beta_zero_reduces_to_dcmh_b_step():
    rng = np.random.default_rng(4)
    lab = random_labels(20, 3, rng)
    F = torch.tensor(rng.standard_normal((20, 6)))
    G = torch.tensor(rng.standard_normal((20, 6)))
    torch.testing.assert_close(GraphBStep(lab, 0.0)(F, G), torch.where(F + G >= 0, 1.0, -1.0).double())


def test_exact_bruteforce_is_the_discrete_optimum():
    """Column-wise enumeration == full enumeration over {-1,+1}^(n*c) for n*c = 12."""
    rng = np.random.default_rng(5)
    n, c, ratio, gamma = 4, 3, 0.8, 2.0
    lab = random_labels(n, 3, rng, p=0.5)
    F = torch.tensor(rng.standard_normal((n, c)))
    G = torch.tensor(rng.standard_normal((n, c)))
    L = torch.tensor(slow_laplacian(lab)[0])
    best, best_val = None, np.inf
    for bits in itertools.product([-1.0, 1.0], repeat=n * c):
        B = torch.tensor(bits, dtype=torch.float64).view(n, c)
        v = b_objective(B, F, G, L, gamma, ratio * gamma).item()
        if v < best_val - 1e-12:
            best, best_val = B, v
    got = exact_b_bruteforce(F, G, lab, ratio)
    assert b_objective(got, F, G, L, gamma, ratio * gamma).item() == pytest.approx(best_val, rel=1e-12)
    # the sign of the relaxed optimum is never better than the exact one
    relaxed = GraphBStep(lab, ratio)(F, G)
    assert b_objective(relaxed, F, G, L, gamma, ratio * gamma).item() >= best_val - 1e-12


def test_b_step_bad_input():
    lab = np.eye(4, dtype=np.uint8)
    with pytest.raises(ValueError, match="beta_over_gamma"):
        GraphBStep(lab, -1.0)
    with pytest.raises(ValueError, match="labels"):
        GraphBStep(lab[0], 1.0)
    step = GraphBStep(lab, 1.0)
    with pytest.raises(ValueError, match="rows"):
        step(torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="NaN"):
        step(torch.full((4, 2), float("nan")), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="n = 20 > 16"):
        exact_b_bruteforce(torch.zeros(20, 2), torch.zeros(20, 2), np.ones((20, 1), np.uint8), 1.0)


# ----------------------------------------------------------------------------- the B-step without an n x n matrix

def grouped_labels(n, rng, n_distinct=12, l=6):
    """Labels drawn from a few distinct rows (as real data: items share label rows), two of them empty."""
    rows = (rng.random((n_distinct, l)) < 0.35).astype(np.uint8)
    rows[0] = 0
    lab = rows[rng.integers(0, n_distinct, n)]
    lab[:2] = 0
    return lab


@pytest.mark.parametrize("solver", ["grouped", "cg"])
@pytest.mark.parametrize("ratio", [0.01, 1.0, 25.0])
def test_label_group_solvers_equal_the_cholesky_path(solver, ratio):
    """The exact reduction to the distinct label rows (Cholesky or conjugate gradients on U x U) solves the same
    system as the dense n x n Cholesky factor: same relaxed B* to 1e-10, hence the same signs."""
    rng = np.random.default_rng(int(ratio * 100))
    n, c = 400, 9
    lab = grouped_labels(n, rng)
    F = torch.tensor(rng.standard_normal((n, c)))
    G = torch.tensor(rng.standard_normal((n, c)))
    G[:, 0] = -F[:, 0]  # a zero right-hand side column: B* = 0 there, sign(0) = +1
    dense = GraphBStep(lab, ratio, solver="dense")
    step = GraphBStep(lab, ratio, solver=solver)
    assert step.solver == solver and step.n_groups == len(np.unique(lab, axis=0)) <= 12
    want = dense.relaxed(F, G)
    got = step.relaxed(F, G)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    M = b_system_matrix(lab, ratio)
    assert (M @ got - (F + G)).abs().max() < 1e-9 * (F + G).abs().max()
    assert torch.equal(step(F, G), dense(F, G))
    assert torch.equal(step(F, G)[:, 0], torch.ones(n, dtype=torch.float64))
    if solver == "cg":
        info = step.info
        assert info["iterations"] >= 1 and info["relative_residual"] <= step.tol
        assert (got - want).abs().max() <= info["error_bound"] + 1e-13  # the stated bound holds


def test_system_product_without_the_matrix(monkeypatch):
    rng = np.random.default_rng(9)
    lab = grouped_labels(200, rng)
    X = torch.tensor(rng.standard_normal((200, 6)))
    want = b_system_matrix(lab, 0.7) @ X
    torch.testing.assert_close(tdh.b_system_product(lab, 0.7, X), want, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(tdh, "_CG_CACHE_BYTES", 8 * 4 * 12)  # S_U rebuilt 4 rows at a time
    torch.testing.assert_close(tdh.b_system_product(lab, 0.7, X), want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="n = 200"):
        tdh.b_system_product(lab, 0.7, X[:10])


def test_cg_tolerance_blocks_and_iteration_limit(monkeypatch):
    rng = np.random.default_rng(7)
    lab = grouped_labels(300, rng, n_distinct=20)
    F = torch.tensor(rng.standard_normal((300, 5)))
    exact = GraphBStep(lab, 2.0, solver="dense").relaxed(F, F)
    loose = GraphBStep(lab, 2.0, solver="cg", tol=1e-3)
    x = loose.relaxed(F, F)
    assert 1e-13 < (x - exact).abs().max() <= loose.info["error_bound"]  # looser: less exact, still bounded
    tight = GraphBStep(lab, 2.0, solver="cg", tol=1e-12)
    tight.relaxed(F, F)
    assert tight.info["iterations"] > loose.info["iterations"]
    # S_U rebuilt from the label rows in blocks of 3 rows gives the cached result
    monkeypatch.setattr(tdh, "_CG_CACHE_BYTES", 3 * 8 * 20)
    blocks = GraphBStep(lab, 2.0, solver="cg")
    assert blocks._S is None
    torch.testing.assert_close(blocks.relaxed(F, F), exact, rtol=1e-10, atol=1e-10)
    with pytest.raises(RuntimeError, match="after 1 iterations"):
        GraphBStep(lab, 2.0, solver="cg", tol=1e-14, max_iter=1).relaxed(F, F)


def test_auto_solver_choice_and_no_n_by_n_matrix(monkeypatch):
    from hashnotes import similarity

    rng = np.random.default_rng(8)
    lab = grouped_labels(600, rng, n_distinct=30)
    assert GraphBStep(lab, 0.5).solver == "dense"  # n <= 4096: today's path, bit for bit
    monkeypatch.setattr(tdh, "DENSE_MAX_N", 100)
    real = similarity.similarity

    def small_only(a, b=None, dtype=None):  # the grouped solvers may only build U x U matrices
        assert a.shape[0] <= 30, f"an {a.shape[0]}-row similarity matrix was built"
        return real(a, b, dtype=dtype)

    monkeypatch.setattr(similarity, "similarity", small_only)
    monkeypatch.setattr(tdh, "b_system_matrix", None)
    assert GraphBStep(lab, 0.5).solver == "grouped"
    monkeypatch.setattr(tdh, "GROUPED_MAX_U", 10)
    step = GraphBStep(lab, 0.5)
    assert step.solver == "cg"
    F = torch.tensor(rng.standard_normal((600, 4)))
    step(F, F)
    with pytest.raises(ValueError, match="solver"):
        GraphBStep(lab, 0.5, solver="lu")
    with pytest.raises(ValueError, match="tol"):
        GraphBStep(lab, 0.5, solver="cg", tol=0.0)


@pytest.mark.parametrize("solver", ["grouped", "cg"])
def test_tdh_codes_with_the_label_group_solvers_equal_the_recorded(solver):
    """The pinned TDH fit (tests/test_method_codes.py, recorded with the dense Cholesky B-step) gives the
    same codes when its B-step is solved on the label groups."""
    from method_codes_case import fit_and_encode
    from test_method_codes import FIXTURE

    with np.load(FIXTURE) as z:
        recorded = {k: z[k] for k in z.files}
    inputs = {k[len("input_"):]: v for k, v in recorded.items() if k.startswith("input_")}
    threads = torch.get_num_threads()
    try:
        got = fit_and_encode("tdh", inputs, bstep_solver=solver)
    finally:
        torch.set_num_threads(threads)
    for modality in ("image", "text"):
        np.testing.assert_array_equal(got[modality], recorded[f"tdh_{modality}"])
    assert int(got["best_epoch"]) == int(recorded["tdh_best_epoch"])


# ----------------------------------------------------------------------------- the model on the trainer

@pytest.fixture(scope="module")
def tiny():
    from hashnotes import data

    return data.toy(n=300, seed=1, image_size=32)


def test_presets():
    from hashnotes.methods import TDH

    p = TDH.paper(bits=64).config
    assert (p.gamma, p.eta, p.beta, p.margin, p.m_pos, p.m_neg) == (100.0, 50.0, 1.0, 1.0, 8, 8)
    assert p.batch_size == 128 and p.text_hidden == (4096,) and p.dropout > 0 and p.image_net == "cnnf"
    assert p.optimizer == "sgd" and p.weight_decay == 5e-4 and p.epochs == 500
    s = TDH.small(bits=16).config
    assert s.image_net == "small" and s.bits == 16
    with pytest.raises(ValueError, match="beta"):
        TDH.small(beta=-1.0)
    with pytest.raises(ValueError, match="gamma"):
        TDH.small(gamma=0.0)
    with pytest.raises(ValueError, match="m_pos"):
        TDH.small(m_pos=0)


def test_batch_loss_gradient_is_eq_13_14_plus_regularizers(tiny):
    """d(batch terms)/d(out) == eq. (13)/(14) triplet part + 2 gamma (out - B) + 2 eta F1 (the trainer then
    scales by 1/(n b))."""
    from hashnotes.losses.triplet import gradients as triplet_gradients
    from hashnotes.methods import TDH

    model = TDH.small(bits=8, m_pos=3, m_neg=2, gamma=2.0, eta=0.5, device="cpu")
    state = model.setup(tiny.train, "cpu")
    g = torch.Generator().manual_seed(0)
    state.F.copy_(torch.randn(state.F.shape, generator=g))
    state.G.copy_(torch.randn(state.G.shape, generator=g))
    state.B = model.b_step(state)
    miner = state.extra["miner"]
    for modality in ("text", "image"):
        idx = torch.randperm(state.n, generator=g)[:16]
        out = torch.randn(16, 8, generator=g, dtype=torch.float32).requires_grad_(True)
        state.buffer(modality)[idx] = out.detach()  # as the trainer does
        rng_state = miner.get_state()
        parts = model.batch_loss(modality, idx, out, state)
        parts["total"].backward()
        miner.set_state(rng_state)
        lab = state.extra["labels_np"]
        inter = miner(lab[idx.numpy()], lab)
        intra = miner(lab[idx.numpy()], lab, exclude=idx)
        own, other = state.buffer(modality), state.other(modality)
        want = torch.zeros_like(out)
        for mined, bank in ((inter, other), (intra, own)):
            want.index_add_(0, mined.anchor,
                            triplet_gradients(out.detach()[mined.anchor], bank[mined.pos], bank[mined.neg], 1.0))
        want += 2 * 2.0 * (out.detach() - state.B[idx]) + 2 * 0.5 * own.sum(0)
        torch.testing.assert_close(out.grad, want, rtol=1e-4, atol=1e-5)
        assert set(parts) >= ({"J2", "J4"} if modality == "text" else {"J1", "J3"})


def test_fit_history_bstep_and_roundtrip(tiny, tmp_path):
    from hashnotes.methods import TDH

    model = TDH.small(bits=16, epochs=2, batch_size=32, device="cpu")
    model.fit(tiny.train, val=tiny.val, progress=False)
    h = model.history
    assert len(h) == 2
    for key in ("loss/J1", "loss/J2", "loss/J3", "loss/J4", "loss/quantization", "loss/balance", "loss/graph",
                "loss/total", "val_map_i2t", "val_map_t2i"):
        assert key in h[-1] and np.isfinite(h[-1][key])
    st = model.state
    # the B-step is eq. (12) on the buffers: M B* = F + G solved by the stored factor
    M = b_system_matrix(tiny.train.labels, st.config.beta / st.config.gamma)
    B = model.b_step(st)
    Bs = torch.linalg.solve(M, (st.F + st.G).double())
    assert torch.equal(B, torch.where(Bs >= 0, 1.0, -1.0).to(B.dtype))
    # the graph term in the history is beta tr(B^T L B)
    L = M.sub(2 * torch.eye(len(M), dtype=M.dtype)) * (st.config.gamma / st.config.beta)
    trace = float(torch.einsum("ic,ij,jc->", st.B.double(), L, st.B.double()))
    assert h[-1]["loss/graph"] == pytest.approx(st.config.beta * trace, rel=1e-6)
    codes = model.encode_image(tiny.query.images)
    assert codes.dtype == np.int8 and set(np.unique(codes)) <= {-1, 1}
    path = model.save(tmp_path / "tdh.pt")
    again = TDH.load(path)
    np.testing.assert_array_equal(again.encode_image(tiny.query.images), codes)
    np.testing.assert_array_equal(again.encode_text(tiny.query.texts), model.encode_text(tiny.query.texts))


def test_same_seed_same_model(tiny):
    from hashnotes.methods import TDH

    a = TDH.small(bits=8, epochs=1, batch_size=64, device="cpu", eval_every=0).fit(tiny.train, progress=False)
    b = TDH.small(bits=8, epochs=1, batch_size=64, device="cpu", eval_every=0).fit(tiny.train, progress=False)
    np.testing.assert_array_equal(a.encode_text(tiny.query.texts), b.encode_text(tiny.query.texts))
    assert a.history[0]["loss/total"] == b.history[0]["loss/total"]


def test_cli_trains_tdh(tmp_path):
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "hashnotes", "train", "tdh", "--toy-n", "300", "--bits", "8",
                          "--epochs", "1", "--threads", "1", "--json", "--save-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 1 and 0.0 <= rows[0]["map_i2t"] <= 1.0 and 0.0 <= rows[0]["map_t2i"] <= 1.0
    assert any(p.suffix == ".pt" for p in tmp_path.iterdir())
