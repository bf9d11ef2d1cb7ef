"""TDH: the Laplacian term, the closed-form B-step (Cholesky vs dense), relaxed vs exact B, the model."""
import importlib.util
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


@pytest.mark.skipif(importlib.util.find_spec("hashnotes.similarity") is None,
                    reason="hashnotes/similarity.py (engineer 2) is not committed yet")
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
