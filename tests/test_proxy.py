"""DAPH's proxy losses (hashnotes.losses.proxy): closed forms, brute force, masks, float16, bad input."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from hashnotes.losses import proxy


def _labels(n, l, p=0.35, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, l, generator=g) < p).to(torch.float64)
    y[y.sum(1) == 0, 0] = 1
    return y


def _signs(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.where(torch.rand(*shape, generator=g) < 0.5, -1.0, 1.0).to(dtype)


def _unit(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1)


# ----------------------------------------------------------------------------- the softmax ratio
def test_ratio_gradient_equals_autograd():
    """The closed form -(g/k)(1 - pi_a) p + (g/k) sum_q pi_q n_q, and times (1 - h^2) for tanh logits."""
    b, m, k = 5, 7, 12
    z = torch.randn(b, k, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    p, negs = _signs(b, k, seed=2), _signs(b, m, k, seed=3)
    mask = torch.rand(b, m, generator=torch.Generator().manual_seed(4)) < 0.7
    mask[0] = False  # a row without negatives: loss 0, gradient 0
    for gamma, sigma in ((20.0, 0.2), (3.0, -0.5)):
        h = torch.tanh(z)
        h_leaf = h.detach().requires_grad_()
        proxy.ratio_nll(h_leaf, p, negs, gamma, sigma, mask).sum().backward()
        closed = proxy.ratio_gradient(h.detach(), p, negs, gamma, sigma, mask)
        torch.testing.assert_close(closed, h_leaf.grad, atol=1e-12, rtol=0)
        assert closed[0].abs().max() == 0
        z.grad = None
        proxy.ratio_nll(torch.tanh(z), p, negs, gamma, sigma, mask).sum().backward()
        torch.testing.assert_close(closed * (1 - h.detach() ** 2), z.grad, atol=1e-12, rtol=0)


def test_ratio_loss_is_the_softmax_ratio():
    a = torch.tensor([0.3, -2.0, 15.0], dtype=torch.float64)
    b = torch.tensor([[1.0, -1.0], [0.5, 2.0], [14.0, 3.0]], dtype=torch.float64)
    want = -torch.log(torch.exp(a) / (torch.exp(a) + torch.exp(b).sum(1)))
    got = proxy.ratio_loss(a, torch.logsumexp(b, 1))
    torch.testing.assert_close(got, want, atol=1e-14, rtol=0)
    # exact also where torch's softplus would switch to the identity (argument > 20)
    big = proxy.ratio_loss(torch.tensor([0.0], dtype=torch.float64), torch.tensor([25.0], dtype=torch.float64))
    assert big.item() != 25.0 and abs(big.item() - math.log1p(math.exp(25.0))) < 1e-12


def test_masked_logsumexp_empty_rows_have_zero_gradient():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    lse = proxy.masked_logsumexp(x, mask, 1)
    assert lse[1] == float("-inf")
    torch.testing.assert_close(lse[0], torch.logsumexp(x[0, [0, 2]], 0))
    proxy.ratio_loss(torch.zeros(3, dtype=torch.float64), lse).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad[1].abs().max() == 0 and x.grad[0, 1] == 0


# ----------------------------------------------------------------------------- stage 1
def test_l1_is_zero_for_mutually_orthogonal_class_codes():
    k = 16
    H = torch.tensor([[1.0]], dtype=torch.float64)
    for _ in range(4):  # Sylvester Hadamard matrix, 16 x 16: orthogonal +-1 rows
        H = torch.cat([torch.cat([H, H], 1), torch.cat([H, -H], 1)], 0)
    C = H[:10] / math.sqrt(k)  # ten orthogonal unit class codes (entries +-1/4: exact in binary)
    assert proxy.class_separation(C).item() == 0.0
    assert proxy.class_separation(-torch.eye(3, dtype=torch.float64) + 0).item() == 0.0
    obtuse = torch.tensor([[1.0, 0.0], [-0.6, 0.8]], dtype=torch.float64)  # cos = -0.6: no penalty either
    assert proxy.class_separation(obtuse).item() == 0.0
    acute = torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=torch.float64)  # cos = 0.6, counted twice
    assert proxy.class_separation(acute).item() == pytest.approx(2 * 0.6 ** 2)


def test_l1_gradient_equals_autograd():
    C = (0.3 * torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
         + 0.4).requires_grad_()
    proxy.class_separation(C).backward()
    torch.testing.assert_close(proxy.class_separation_gradient(C.detach()), C.grad, atol=1e-12, rtol=0)


def test_qtf_is_zero_exactly_for_scaled_binary_codes():
    k = 16
    B = _signs(10, k, seed=5)
    assert proxy.qtf(B / math.sqrt(k)).abs().item() < 1e-24
    U = _unit(10, k, seed=6)
    brute = sum((U[i].abs().sum() / math.sqrt(k) - 1) ** 2 for i in range(10))  # sgn(u).u = |u|_1
    torch.testing.assert_close(proxy.qtf(U), brute)
    assert proxy.qtf(U).item() > 0.0
    # sgn is a constant: the gradient is 2 (r - 1) sgn(h) / sqrt(k)
    Ul = U.clone().requires_grad_()
    proxy.qtf(Ul).backward()
    r = (torch.sign(U) * U).sum(1, keepdim=True) / math.sqrt(k)
    torch.testing.assert_close(Ul.grad, 2 * (r - 1) * torch.sign(U) / math.sqrt(k))


def _l3_brute(U, C, y, gamma, sigma, faithful):
    total = 0.0
    for i in range(len(U)):
        pos = [j for j in range(C.shape[0]) if y[i, j] == 1]
        neg = [j for j in range(C.shape[0]) if y[i, j] == 0]
        acc = 0.0
        for j in pos:
            num = math.exp(gamma * (float(U[i] @ C[j]) - sigma))
            den = num + sum(math.exp(gamma * float(U[i] @ C[q])) for q in neg) + (len(pos) if faithful else 0)
            acc += -math.log(num / den)
        total += acc / len(pos)
    return total


def test_l3_matches_brute_force_and_the_code_artefact():
    U, C, y = _unit(7, 6, seed=1), _unit(5, 6, seed=2), _labels(7, 5, seed=3)
    for faithful in (False, True):
        got = proxy.proxy_likelihood(U, C, y, 20.0, 0.2, faithful_to_code=faithful).item()
        assert got == pytest.approx(_l3_brute(U, C, y, 20.0, 0.2, faithful), rel=1e-12)
    plain = proxy.proxy_likelihood(U, C, y, 20.0, 0.2)
    assert proxy.proxy_likelihood(U, C, y, 20.0, 0.2, faithful_to_code=True) > plain  # the extra |y_i| e^0 terms


def test_proxy_loss_weights_the_terms_as_the_paper():
    C, V, T, y = _unit(5, 8, seed=1), _unit(9, 8, seed=2), _unit(9, 8, seed=3), _labels(9, 5, seed=4)
    t = proxy.proxy_loss(C, y, V, T, alpha=0.3, beta=0.7, gamma=20.0, sigma=0.2)
    assert t["total"].item() == pytest.approx((t["L3"] + 0.3 * t["L2"] + t["L1"] + 0.7 * t["Lqtf"]).item())
    l2 = (C.sum(0) ** 2).sum() + (V.sum(0) ** 2).sum() + (T.sum(0) ** 2).sum()
    assert t["L2"].item() == pytest.approx(l2.item())
    assert t["L3"].item() == pytest.approx(proxy.proxy_likelihood(V, C, y).item() + proxy.proxy_likelihood(T, C, y).item())
    alone = proxy.proxy_loss(C)  # the class-only ablation: no data terms
    assert alone["L3"].item() == 0.0 and alone["L2"].item() == pytest.approx((C.sum(0) ** 2).sum().item())


# ----------------------------------------------------------------------------- stage 2: masks
def test_masks_partition_every_row_with_positive_diagonal():
    y = _labels(40, 5, p=0.4, seed=7)
    for rule in proxy.RULES:
        P, PP, N = proxy.selection_masks(y, y, rule)
        assert torch.equal(P.int() + PP.int() + N.int(), torch.ones(40, 40, dtype=torch.int32))
        assert P.diagonal().all()
    s = (y @ y.T).long()
    P, PP, N = proxy.selection_masks(y, y, "identical")
    for i, j in itertools.product(range(40), range(40)):  # brute force definitions
        same = bool((y[i] == y[j]).all())
        assert P[i, j] == same and N[i, j] == (s[i, j] == 0) and PP[i, j] == (not same and s[i, j] > 0)
    Ps, _, _ = proxy.selection_masks(y, y, "superset")
    for i, j in itertools.product(range(40), range(40)):
        assert Ps[i, j] == bool(((y[j] - y[i]) >= 0).all())  # anchor j holds all labels of item i
    assert (Ps.int() - P.int()).min() >= 0 and Ps.sum() > P.sum()


def test_unlabelled_item_has_only_negatives():
    y = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.float64)
    P, PP, N = proxy.selection_masks(y, y)
    assert not P[0].any() and not PP[0].any() and N[0].all()


def test_similar_weights_are_normalised_over_all_anchors():
    y = torch.tensor([[1, 1, 0], [1, 1, 0], [1, 0, 0], [0, 1, 1], [0, 0, 1]], dtype=torch.float64)
    _, PP, _ = proxy.selection_masks(y[:1], y)
    w = proxy.similar_weights(y[:1], y, PP)
    # item 0 shares 2, 2, 1, 1, 0 labels; the partially similar anchors are 2 and 3; the sum runs over all (6)
    torch.testing.assert_close(w[0], torch.tensor([0, 0, 1 / (6 + 1e-5), 1 / (6 + 1e-5), 0], dtype=torch.float64))
    assert w.sum() < 1


# ----------------------------------------------------------------------------- stage 2: terms
def _stage2_brute(out, C, y, Av, At, ya, gamma, sigma, eta, rule):
    k, b, n = out.shape[1], out.shape[0], Av.shape[0]
    sc = (y @ ya.T).numpy()

    def ell(a, negs):
        return -math.log(math.exp(a) / (math.exp(a) + sum(math.exp(x) for x in negs)))

    cls = []
    for i in range(b):
        pos = [c for c in range(C.shape[0]) if y[i, c] == 1]
        neg = [c for c in range(C.shape[0]) if y[i, c] == 0]
        ubar = sum(float(out[i] @ C[c]) / k for c in pos) / len(pos)
        cls.append(ell(gamma * (ubar - sigma), [gamma * float(out[i] @ C[c]) / k for c in neg]))
    total = sum(cls) / b
    for A in (Av, At):
        same, sim = [], []
        for i in range(b):
            ni, nj = int(y[i].sum()), ya.sum(1).numpy()
            pos = [j for j in range(n) if sc[i, j] == ni and (rule == "superset" or sc[i, j] == nj[j]) and sc[i, j] > 0]
            neg = [j for j in range(n) if sc[i, j] == 0]
            part = [j for j in range(n) if j not in pos and j not in neg]
            u = [float(out[i] @ A[j]) / k for j in range(n)]
            negs = [gamma * u[q] for q in neg]
            same.append(sum(ell(gamma * (u[j] - sigma), negs) for j in pos) / len(pos))
            if part:
                ubar = sum(sc[i, j] * u[j] for j in part) / (sc[i].sum() + 1e-5)
                sim.append(ell(gamma * (ubar - sigma), negs))
        total += sum(same) / b + eta * (sum(sim) / len(sim) if sim else 0.0)
    return total


@pytest.mark.parametrize("rule", proxy.RULES)
def test_stage2_loss_matches_brute_force_and_its_gradient_autograd(rule):
    n, b, l, k = 24, 8, 4, 10
    ya = _labels(n, l, p=0.4, seed=11)
    y = ya[:b]
    Av, At, C = _signs(n, k, seed=12), _signs(n, k, seed=13), _signs(l, k, seed=14)
    out = torch.tanh(torch.randn(b, k, dtype=torch.float64, generator=torch.Generator().manual_seed(15)))
    out = out.requires_grad_()
    t = proxy.batch_loss(out, C, y, Av, At, ya, gamma=20.0, sigma=0.2, eta=0.7, rule=rule)
    assert set(t) == {"class", "same_image", "same_text", "similar_image", "similar_text", "total"}
    assert t["total"].item() == pytest.approx(_stage2_brute(out.detach(), C, y, Av, At, ya, 20.0, 0.2, 0.7, rule),
                                              rel=1e-10)
    assert t["similar_image"].item() > 0 and t["same_text"].item() > 0
    t["total"].backward()
    closed = proxy.gradients(out.detach(), C, y, Av, At, ya, gamma=20.0, sigma=0.2, eta=0.7, rule=rule)
    torch.testing.assert_close(closed, out.grad, atol=1e-12, rtol=0)


def test_class_term_alone_and_its_gradient():
    y = _labels(6, 5, seed=21)
    y[0] = 1  # every class: no negative class, the ratio is 1 and the loss 0
    C = _signs(5, 8, seed=22)
    out = torch.tanh(torch.randn(6, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(23)))
    out.requires_grad_()
    t = proxy.batch_loss(out, C, y)
    assert set(t) == {"class", "total"} and t["total"] is t["class"]
    t["total"].backward()
    torch.testing.assert_close(proxy.gradients(out.detach(), C, y), out.grad, atol=1e-12, rtol=0)
    assert out.grad[0].abs().max() == 0


def test_float16_inputs_do_not_overflow():
    n, b, l, k = 64, 16, 6, 32
    ya = _labels(n, l, p=0.3, seed=31)
    y = ya[:b]
    Av, At, C = _signs(n, k, seed=32), _signs(n, k, seed=33), _signs(l, k, seed=34)
    noise = torch.randn(b, k, dtype=torch.float64, generator=torch.Generator().manual_seed(35))
    out = torch.tanh(3 * Av[:b] + noise)  # a trained network sits near its own proxy: u_ii close to 1
    ref = proxy.batch_loss(out, C, y, Av, At, ya)
    half = proxy.batch_loss(out.half(), C.half(), y.half(), Av.half(), At.half(), ya.half())
    for key, v in half.items():
        assert v.dtype == torch.float16 and torch.isfinite(v), key
        assert v.item() == pytest.approx(ref[key].item(), rel=2e-2, abs=2e-2), key
    # the direct formula overflows: e^{gamma u} with u near 1 exceeds float16's 65,504
    u = (out.half() @ Av.half().T) / k
    assert not torch.isfinite(torch.exp(20 * u).sum(1)).all()
    U, Cu = _unit(b, k, seed=36), _unit(l, k, seed=37)
    l3 = proxy.proxy_likelihood(U.half(), Cu.half(), y.half())
    assert torch.isfinite(l3) and l3.item() == pytest.approx(proxy.proxy_likelihood(U, Cu, y).item(), rel=2e-2)


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs_name_the_problem():
    y, C, A = _labels(4, 3), _signs(3, 8), _signs(4, 8)
    out = torch.zeros(4, 8, dtype=torch.float64)
    with pytest.raises(ValueError, match="rule"):
        proxy.selection_masks(y, y, rule="subset")
    with pytest.raises(ValueError, match="same number of bits"):
        proxy.batch_loss(out, _signs(3, 6), y)
    with pytest.raises(ValueError, match="labels.*columns"):
        proxy.batch_loss(out, C, _labels(4, 5))
    with pytest.raises(ValueError, match="binary"):
        proxy.batch_loss(out, C, y * 2)
    bad = out.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="out contains NaN"):
        proxy.batch_loss(bad, C, y)
    with pytest.raises(ValueError, match="anchor_labels are needed"):
        proxy.batch_loss(out, C, y, A, A)
    with pytest.raises(ValueError, match="gamma"):
        proxy.batch_loss(out, C, y, gamma=0.0)
    with pytest.raises(ValueError, match="2-D"):
        proxy.class_separation(torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="labels are needed"):
        proxy.proxy_loss(_unit(3, 8), image=_unit(4, 8))
    with pytest.raises(ValueError, match="torch tensor"):
        proxy.qtf(np.ones((2, 2)))
