"""UGACH's losses: the hinge score, rewards, the REINFORCE identity and the three gradient estimators."""
from __future__ import annotations

import itertools

import pytest
import torch

from hashnotes.losses import adversarial as A


def _f64(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_hinge_is_zero_when_generated_item_is_margin_further():
    hq = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    hp = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)  # d_M = 1
    hg = torch.tensor([[2.0, 0.0], [1.5, 0.0], [0.5, 0.0]], dtype=torch.float64)  # d_G = 4, 2.25, 0.25
    f = A.triplet_score(hq, hp, hg, margin=1.0)
    # d_G >= d_M + m gives 0; otherwise m + d_M - d_G
    torch.testing.assert_close(f, torch.tensor([0.0, 0.0, 1.75], dtype=torch.float64))
    f_exact = A.triplet_score(hq, hp, torch.tensor([[2 ** 0.5, 0.0]] * 3, dtype=torch.float64), margin=1.0)
    assert torch.all(f_exact.abs() < 1e-12)  # d_G == d_M + m exactly


def test_hinge_against_loops_and_pool_broadcast():
    hq, hp, pool = torch.rand(4, 5, dtype=torch.float64), torch.rand(4, 5, dtype=torch.float64), \
        torch.rand(4, 7, 5, dtype=torch.float64)
    f = A.triplet_score(hq, hp, pool, margin=0.3)
    for b in range(4):
        for j in range(7):
            want = max(0.0, 0.3 + float(((hq[b] - hp[b]) ** 2).sum()) - float(((hq[b] - pool[b, j]) ** 2).sum()))
            assert abs(float(f[b, j]) - want) < 1e-12
    terms = A.batch_loss(hq, hp, pool[:, 0], margin=0.3)
    assert set(terms) == {"hinge", "total"}
    torch.testing.assert_close(terms["total"], f[:, 0].sum())
    obj = A.objective(hq, hp, pool[:, 0], margin=0.3)
    assert obj["total"] == pytest.approx(float(f[:, 0].sum())) and 0 <= obj["active"] <= 1


def test_rewards_are_stable():
    f = torch.tensor([0.0, 1.0, 50.0, 1e3], dtype=torch.float64)
    r = A.reward(f, "log1pexp")
    assert torch.isfinite(r).all() and r[-1] == pytest.approx(1e3) and r[0] == pytest.approx(torch.log(torch.tensor(2.0)))
    torch.testing.assert_close(A.reward(f, "sigmoid"), torch.sigmoid(f))
    with pytest.raises(ValueError, match="reward"):
        A.reward(f, "exp")


def test_reinforce_identity_through_parameters():
    """autograd of sum_x p_theta(x) r(x) over a small pool == sum_x p r grad log p == the closed form."""
    theta = _f64(3, 4, seed=1).requires_grad_(True)  # scores s = X theta w over a pool of 6 items
    X, w = _f64(6, 3, seed=2), _f64(4, seed=3)
    r = torch.rand(6, dtype=torch.float64)

    def scores(t):
        return X @ t @ w

    J = (torch.softmax(scores(theta), 0) * r).sum()
    g_auto, = torch.autograd.grad(J, theta)
    p = torch.softmax(scores(theta), 0).detach()
    g_reinforce = torch.zeros_like(theta)
    for x in range(6):  # sum_x p(x) r(x) grad log p(x)
        lp = torch.log_softmax(scores(theta), 0)[x]
        gx, = torch.autograd.grad(lp, theta)
        g_reinforce += p[x] * r[x] * gx
    torch.testing.assert_close(g_auto, g_reinforce, rtol=0, atol=1e-12)
    # the package's exact loss and its closed form in the scores (chain rule through s = X theta w)
    s = scores(theta)
    loss = A.generator_loss_exact(s.unsqueeze(0), r.unsqueeze(0))
    g_pkg, = torch.autograd.grad(loss["total"], theta)
    torch.testing.assert_close(-g_pkg, g_auto, rtol=0, atol=1e-12)
    ds = A.gradients(s.detach().unsqueeze(0), r.unsqueeze(0))[0]
    g_closed = torch.einsum("i,ij,k->jk", ds, X, w)
    torch.testing.assert_close(g_closed, g_auto, rtol=0, atol=1e-12)


def _enumerate_k2(scores, rewards, softmax_over):
    """Exact expectation of the K = 2 sampled estimator's score gradient, by enumerating all ordered pairs."""
    m = len(scores)
    p = torch.softmax(scores, 0)
    E = torch.zeros(m, dtype=torch.float64)
    for a, b in itertools.product(range(m), repeat=2):
        s = scores.clone().requires_grad_(True)
        terms = A.generator_loss_sampled(s.unsqueeze(0), torch.tensor([[a, b]]), rewards[[a, b]].unsqueeze(0),
                                         softmax_over)
        g, = torch.autograd.grad(-terms["total"], s)
        E += p[a] * p[b] * g
    return E


def test_pool_softmax_estimator_is_unbiased_and_code_estimator_is_not():
    s, r = _f64(7, seed=4), torch.rand(7, dtype=torch.float64)
    exact = A.gradients(s.unsqueeze(0), r.unsqueeze(0))[0]
    torch.testing.assert_close(_enumerate_k2(s, r, "pool"), exact, rtol=0, atol=1e-12)
    code = _enumerate_k2(s, r, "samples")
    torch.testing.assert_close(code, A.code_estimator_mean(s, r), rtol=0, atol=1e-12)
    assert (code - exact).abs().max() > 1e-3  # biased
    # equal scores: the code's estimator is exactly half the exact gradient
    s0 = torch.zeros(7, dtype=torch.float64)
    torch.testing.assert_close(A.code_estimator_mean(s0, r), 0.5 * A.gradients(s0[None], r[None])[0])
    # equal rewards: the exact gradient vanishes, the code's does not (it pulls the scores together)
    r1 = torch.full((7,), 0.8, dtype=torch.float64)
    assert A.gradients(s[None], r1[None]).abs().max() < 1e-15
    g1 = A.code_estimator_mean(s, r1)
    assert g1[s.argmax()] < 0 < g1[s.argmin()]


def test_monte_carlo_draws_match_their_expectations():
    s, r = _f64(5, seed=5), torch.rand(5, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    pool = A.score_gradient_samples(s, r, 40000, k=2, softmax_over="pool", generator=gen)
    code = A.score_gradient_samples(s, r, 40000, k=2, softmax_over="samples", generator=gen)
    assert pool.shape == (40000, 5)
    se = pool.std(0) / 200 + 1e-12
    assert ((pool.mean(0) - A.gradients(s[None], r[None])[0]).abs() < 5 * se).all()
    se = code.std(0) / 200 + 1e-12
    assert ((code.mean(0) - A.code_estimator_mean(s, r)).abs() < 5 * se).all()
    # with one draw of a single item the softmax over "samples" is 1: no gradient at all
    z = A.score_gradient_samples(s, r, 100, k=1, softmax_over="samples", generator=gen)
    assert z.abs().max() < 1e-15


def test_log_policy_mask_and_errors():
    s = _f64(2, 4, seed=6)
    mask = torch.tensor([[True, False, True, True], [False, False, True, False]])
    lp = A.log_policy(s, mask)
    assert torch.isneginf(lp[~mask]).all()
    torch.testing.assert_close(lp[mask].exp().sum(), torch.tensor(2.0, dtype=torch.float64))
    assert lp[1, 2] == 0.0
    with pytest.raises(ValueError, match="at least one"):
        A.log_policy(s, torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="margin"):
        A.triplet_score(s, s, s, margin=-1.0)
    with pytest.raises(ValueError, match="softmax_over"):
        A.generator_loss_sampled(s, torch.zeros(2, 2, dtype=torch.long), torch.ones(2, 2, dtype=torch.float64), "all")
    with pytest.raises(ValueError, match="positions in the pool"):
        A.generator_loss_sampled(s, torch.full((2, 2), 9), torch.ones(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN"):
        A.squared_distances(torch.full((1, 2), float("nan")), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="same rows"):
        A.squared_distances(torch.zeros(2, 3), torch.zeros(3, 3))
