"""Tests of hashnotes.losses.cauchy: loss identity, closed-form gradients vs autograd, B-step vs brute force."""
import itertools
import math

import pytest
import torch

from hashnotes.losses import cauchy

DT = torch.float64


def _random_problem(n=7, m=7, c=5, seed=0, tanh=True):
    g = torch.Generator().manual_seed(seed)
    F = torch.randn(n, c, generator=g, dtype=DT)
    G = torch.randn(m, c, generator=g, dtype=DT)
    if tanh:
        F, G = torch.tanh(F), torch.tanh(G)
    S = (torch.rand(n, m, generator=g) < 0.4).to(DT)
    S[0, 0] = 1.0
    if m > 1:
        S[0, 1] = 0.0  # both kinds present
    return F, G, S


def _binary(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0).to(DT)


# ----------------------------------------------------------------------------- pair loss
def test_pair_loss_equals_cross_entropy_of_cauchy_probability():
    g = torch.Generator().manual_seed(1)
    phi = torch.rand(50, generator=g, dtype=DT) * 64 + 1e-3
    S = (torch.rand(50, generator=g) < 0.5).to(DT)
    for gamma in (0.5, 2.0, 10.0, 50.0):
        p = cauchy.cauchy_probability(phi, gamma)
        ce = -S * torch.log(p) - (1 - S) * torch.log(1 - p)
        got = cauchy.pair_loss(phi, S, gamma, eps=0.0)
        torch.testing.assert_close(got, ce, rtol=0, atol=1e-12)
        # with the default eps the difference is bounded by eps/phi
        got_eps = cauchy.pair_loss(phi, S, gamma)
        assert float((got_eps - ce).abs().max()) < 1e-6 / 1e-3 + 1e-12


def test_pair_loss_hand_values():
    # phi = 0 similar: -log(gamma/gamma) = 0; phi = gamma dissimilar: -log(1/2)
    phi = torch.tensor([0.0, 10.0, 30.0], dtype=DT)
    S = torch.tensor([1.0, 0.0, 1.0], dtype=DT)
    got = cauchy.pair_loss(phi, S, 10.0, eps=0.0)
    torch.testing.assert_close(got, torch.tensor([0.0, math.log(2), math.log(4)], dtype=DT))


def test_derivative_signs():
    phi = torch.linspace(0.1, 30, 40, dtype=DT)
    d_sim = cauchy.pair_loss_derivative(phi, torch.ones_like(phi), 10.0)
    d_dis = cauchy.pair_loss_derivative(phi, torch.zeros_like(phi), 10.0)
    assert bool((d_sim > 0).all()) and bool((d_dis < 0).all())
    # dissimilar: -gamma/(phi(phi+gamma)) (eps = 0)
    torch.testing.assert_close(cauchy.pair_loss_derivative(phi, torch.zeros_like(phi), 10.0, eps=0.0),
                               -10.0 / (phi * (phi + 10.0)))


# ----------------------------------------------------------------------------- distances
def test_distances_equal_hamming_on_binary_codes():
    Bx, By = _binary((9, 16), 2), _binary((8, 16), 3)
    ham = (Bx[:, None, :] != By[None, :, :]).sum(-1).to(DT)
    torch.testing.assert_close(cauchy.inner_distance(Bx, By), ham)
    torch.testing.assert_close(cauchy.cosine_distance(Bx, By), ham, atol=1e-9, rtol=0)


def test_cosine_distance_is_scale_invariant_and_in_range():
    F, G, _ = _random_problem(seed=4, tanh=False)
    d1 = cauchy.cosine_distance(F, G)
    d2 = cauchy.cosine_distance(3.0 * F, 0.5 * G)
    torch.testing.assert_close(d1, d2, atol=1e-9, rtol=0)
    assert bool((d1 >= 0).all()) and bool((d1 <= F.shape[1]).all())


# ----------------------------------------------------------------------------- gradients vs autograd
@pytest.mark.parametrize("distance", ["cosine", "inner"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("gamma,alpha", [(10.0, 1.0), (2.0, 0.3)])
def test_closed_form_gradients_match_autograd(distance, weighted, gamma, alpha):
    F, G, S = _random_problem(seed=5)
    B = _binary(F.shape, 6)
    W = cauchy.dch_weights(S) if weighted else None
    Fv, Gv = F.clone().requires_grad_(), G.clone().requires_grad_()
    terms = cauchy.objective(Fv, Gv, B, S, gamma, alpha, distance, W)
    J = terms["cauchy"] + terms["quantization"]
    aF, aG = torch.autograd.grad(J, (Fv, Gv))
    dF, dG = cauchy.gradients(F, G, B, S, gamma, alpha, distance, W)
    torch.testing.assert_close(dF, aF, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(dG, aG, rtol=1e-9, atol=1e-10)


def test_closed_form_gradients_match_central_differences():
    """An independent check of the cosine formula (not via autograd)."""
    F, G, S = _random_problem(n=4, m=4, c=4, seed=7)
    B = _binary(F.shape, 8)

    def J(F_):
        t = cauchy.objective(F_, G, B, S, 10.0, 1.0, "cosine")
        return float(t["cauchy"] + t["quantization"])

    dF, _ = cauchy.gradients(F, G, B, S, 10.0, 1.0, "cosine")
    h = 1e-6
    num = torch.zeros_like(F)
    for i, k in itertools.product(range(F.shape[0]), range(F.shape[1])):
        E = torch.zeros_like(F)
        E[i, k] = h
        num[i, k] = (J(F + E) - J(F - E)) / (2 * h)
    torch.testing.assert_close(dF, num, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("distance", ["cosine", "inner"])
def test_batch_loss_gradient_is_rows_of_full_gradient(distance):
    """The mini-batch terms have exactly the batch rows of dJ/dF as their gradient."""
    F, G, S = _random_problem(n=8, m=8, c=6, seed=9)
    B = _binary(F.shape, 10)
    p = cauchy.similar_fraction(S)
    W = cauchy.dch_weights(S, p)
    idx = torch.tensor([1, 4, 6])
    out = F[idx].clone().requires_grad_()
    loss = cauchy.batch_loss(out, G, B[idx], S[idx], 10.0, 1.0, distance, W[idx])["total"]
    (g,) = torch.autograd.grad(loss, out)
    dF, _ = cauchy.gradients(F, G, B, S, 10.0, 1.0, distance, W)
    torch.testing.assert_close(g, dF[idx], rtol=1e-9, atol=1e-10)
    # and the batch weights built from the global fraction are the rows of the full weights
    torch.testing.assert_close(cauchy.dch_weights(S[idx], p), W[idx])


# ----------------------------------------------------------------------------- stability
@pytest.mark.parametrize("distance", ["cosine", "inner"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_when_phi_goes_to_zero_and_at_zero_vectors(distance, dtype):
    c = 8
    code = _binary((1, c), 11).to(dtype)
    F = torch.cat([code, torch.zeros(1, c, dtype=dtype), code * (1 - 1e-7)], 0)
    G = torch.cat([code, code, torch.zeros(1, c, dtype=dtype)], 0)  # F0 == G0: phi = 0
    S = torch.zeros(3, 3, dtype=dtype)  # dissimilar: -log(phi) is the dangerous term
    B = torch.ones(3, c, dtype=dtype)
    Fv, Gv = F.clone().requires_grad_(), G.clone().requires_grad_()
    t = cauchy.objective(Fv, Gv, B, S, 10.0, 1.0, distance)
    J = t["cauchy"] + t["quantization"]
    assert bool(torch.isfinite(J))
    aF, aG = torch.autograd.grad(J, (Fv, Gv))
    dF, dG = cauchy.gradients(F, G, B, S, 10.0, 1.0, distance)
    for x in (aF, aG, dF, dG):
        assert bool(torch.isfinite(x).all())
    # the loss at phi = 0 is log(gamma) - log(eps): large but finite
    phi = cauchy.distance_matrix(F, G, distance)
    assert float(phi[0, 0]) < 1e-5
    if distance == "cosine":  # zero vectors sit at phi = c/2
        assert abs(float(phi[1, 0]) - c / 2) < 1e-5 and abs(float(phi[2, 2]) - c / 2) < 1e-5
    # the batch loss too
    out = F[:2].clone().requires_grad_()
    loss = cauchy.batch_loss(out, G, B[:2], S[:2], 10.0, 1.0, distance)["total"]
    (g,) = torch.autograd.grad(loss, out)
    assert bool(torch.isfinite(loss)) and bool(torch.isfinite(g).all())


def test_zero_vector_cosine_gradient_matches_autograd():
    F, G, S = _random_problem(n=4, m=4, c=5, seed=12)
    F[2] = 0.0
    G[1] = 0.0
    B = _binary(F.shape, 13)
    Fv, Gv = F.clone().requires_grad_(), G.clone().requires_grad_()
    t = cauchy.objective(Fv, Gv, B, S, 10.0, 1.0, "cosine")
    aF, aG = torch.autograd.grad(t["cauchy"] + t["quantization"], (Fv, Gv))
    dF, dG = cauchy.gradients(F, G, B, S, 10.0, 1.0, "cosine")
    torch.testing.assert_close(dF, aF, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(dG, aG, rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------------- B-step
@pytest.mark.parametrize("distance", ["cosine", "inner"])
@pytest.mark.parametrize("n,c", [(2, 5), (3, 3), (1, 10)])
def test_b_step_equals_brute_force(distance, n, c):
    """B = sign(F+G) minimises the full objective over all 2^(n c) binary B (the Cauchy term does not
    depend on B, so only the quantization term matters; we minimise the whole objective anyway)."""
    F, G, S = _random_problem(n=n, m=n, c=c, seed=100 + n * c)
    S[0, 0] = 1.0
    best, best_B = math.inf, None
    for bits in itertools.product((-1.0, 1.0), repeat=n * c):
        B = torch.tensor(bits, dtype=DT).reshape(n, c)
        t = cauchy.objective(F, G, B, S, 10.0, 1.0, distance)
        J = float(t["cauchy"] + t["quantization"])
        if J < best - 1e-12:
            best, best_B = J, B
    torch.testing.assert_close(cauchy.b_step(F, G), best_B)


def test_b_step_sign_zero_is_plus_one():
    F = torch.tensor([[0.5, -0.2, 0.0]], dtype=DT)
    G = torch.tensor([[-0.5, 0.1, 0.0]], dtype=DT)
    torch.testing.assert_close(cauchy.b_step(F, G), torch.tensor([[1.0, -1.0, 1.0]], dtype=DT))


# ----------------------------------------------------------------------------- bad input
def test_bad_input_raises_clear_errors():
    F, G, S = _random_problem()
    B = _binary(F.shape, 0)
    with pytest.raises(ValueError, match="gamma"):
        cauchy.objective(F, G, B, S, gamma=0.0)
    with pytest.raises(ValueError, match="alpha"):
        cauchy.objective(F, G, B, S, alpha=-1.0)
    with pytest.raises(ValueError, match="distance"):
        cauchy.objective(F, G, B, S, distance="euclid")
    with pytest.raises(ValueError, match="S must contain only 0 and 1"):
        cauchy.objective(F, G, B, S * 2)
    with pytest.raises(ValueError, match="S must have shape"):
        cauchy.objective(F, G, B, S[:, :3])
    with pytest.raises(ValueError, match="same number of bits"):
        cauchy.cosine_distance(F, G[:, :3])
    Fn = F.clone()
    Fn[0, 0] = float("nan")
    with pytest.raises(ValueError, match="F contains NaN"):
        cauchy.objective(Fn, G, B, S)
    with pytest.raises(ValueError, match="both similar and dissimilar"):
        cauchy.dch_weights(torch.ones(3, 3))
    with pytest.raises(ValueError, match="B_batch"):
        cauchy.batch_loss(F[:2], G, B[:3], S[:2])


@pytest.mark.parametrize("weighted", [False, True])
def test_objective_from_labels_in_chunks_equals_dense(weighted):
    g = torch.Generator().manual_seed(21)
    n, c = 37, 6
    F, G = torch.tanh(torch.randn(n, c, generator=g, dtype=DT)), torch.tanh(torch.randn(n, c, generator=g, dtype=DT))
    labels = (torch.rand(n, 4, generator=g) < 0.3).to(DT)
    S = (labels @ labels.T > 0).to(DT)
    B = _binary(F.shape, 22)
    p = cauchy.similar_fraction(S)
    dense = cauchy.objective(F, G, B, S, weights=cauchy.dch_weights(S, p) if weighted else None)
    chunked = cauchy.objective(F, G, B, labels=labels, weights=p if weighted else None, chunk=5)
    for k in ("cauchy", "quantization", "total"):
        torch.testing.assert_close(chunked[k], dense[k], rtol=1e-12, atol=1e-10)
    with pytest.raises(ValueError, match="exactly one"):
        cauchy.objective(F, G, B)
