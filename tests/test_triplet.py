"""TDH triplet terms and miner: gradients vs autograd (float64), the miner vs brute-force enumeration."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as nnf

from hashnotes.losses.triplet import (
    MinedTriplets,
    TDHTripletTerms,
    TripletLikelihoodLoss,
    TripletMiner,
    triplet_deltas,
    gradients as triplet_gradients,
    valid_triplet_mask,
)


def random_labels(n, l, rng, p=0.25):
    lab = (rng.random((n, l)) < p).astype(np.uint8)
    lab[lab.sum(1) == 0, rng.integers(0, l)] = 1
    return lab


def brute_force_valid(anchor_labels, cand_labels, exclude=None):
    """All valid (anchor, pos, neg) triplets by explicit loops."""
    out = set()
    for a in range(len(anchor_labels)):
        for p in range(len(cand_labels)):
            if exclude is not None and p == exclude[a]:
                continue
            if not any(anchor_labels[a][k] and cand_labels[p][k] for k in range(anchor_labels.shape[1])):
                continue
            for n in range(len(cand_labels)):
                if any(anchor_labels[a][k] and cand_labels[n][k] for k in range(anchor_labels.shape[1])):
                    continue
                out.add((a, p, n))
    return out


# ----------------------------------------------------------------------------- likelihood and gradients

def test_likelihood_loss_matches_formula_and_is_stable():
    rng = np.random.default_rng(0)
    q, p, n = (torch.tensor(rng.standard_normal((6, 5))) for _ in range(3))
    loss = TripletLikelihoodLoss(margin=0.7)
    delta = 0.5 * (q * p).sum(1) - 0.5 * (q * n).sum(1) - 0.7
    want = -torch.log(torch.sigmoid(delta)).sum()
    torch.testing.assert_close(loss(q, p, n), want)
    # extreme margins: softplus never overflows, and equals |Delta| far on the wrong side
    big = TripletLikelihoodLoss(margin=1e4)
    v = big(q, p, n)
    assert torch.isfinite(v)
    torch.testing.assert_close(v, (1e4 - 0.5 * ((q * p).sum(1) - (q * n).sum(1))).sum())
    assert TripletLikelihoodLoss(margin=-1e4)(q, p, n).item() == pytest.approx(0.0, abs=1e-12)


def test_margin_is_in_hamming_units_for_binary_codes():
    rng = np.random.default_rng(1)
    c = 16
    q, p, n = (torch.tensor(np.where(rng.random((20, c)) < 0.5, -1.0, 1.0)) for _ in range(3))
    d_qp = 0.5 * (c - (q * p).sum(1))
    d_qn = 0.5 * (c - (q * n).sum(1))
    delta = TripletLikelihoodLoss(margin=3.0).deltas(q, p, n)
    torch.testing.assert_close(delta, d_qn - d_qp - 3.0)


@pytest.mark.parametrize("margin", [0.0, 1.0, 4.0])
def test_query_gradient_13_14_matches_autograd_float64(margin):
    rng = np.random.default_rng(2)
    P, M1, M2, c = 5, 3, 4, 7
    q = torch.tensor(rng.standard_normal((P, c)), requires_grad=True)
    pos = torch.tensor(rng.standard_normal((P, M1, c)))
    neg = torch.tensor(rng.standard_normal((P, M2, c)))
    nnf.softplus(-triplet_deltas(q, pos, neg, margin)).sum().backward()
    torch.testing.assert_close(triplet_gradients(q.detach(), pos, neg, margin), q.grad, rtol=1e-12, atol=1e-12)


def test_structured_deltas_equal_flat_loss_on_tuples():
    rng = np.random.default_rng(3)
    n, c = 40, 6
    lab = random_labels(n, 5, rng)
    codes = torch.tensor(rng.standard_normal((n, c)))
    bank = torch.tensor(rng.standard_normal((n, c)))
    idx = np.arange(10)
    mined = TripletMiner(3, 2, seed=0)(lab[idx], lab, exclude=idx)
    a, p, nn_ = mined.tuples()
    flat = TripletLikelihoodLoss(1.0)(codes[idx][a], bank[p], bank[nn_])
    structured = nnf.softplus(-triplet_deltas(codes[idx][mined.anchor], bank[mined.pos], bank[mined.neg], 1.0)).sum()
    torch.testing.assert_close(flat, structured)


def test_tdh_terms_gradients_equal_eq_13_14_with_detached_positives():
    """dJ/dG_i from the J2 + J4 terms (and dJ/dF_i from J1 + J3) equal the corrected eqs. (13)/(14)."""
    rng = np.random.default_rng(4)
    n, c, b = 30, 8, 6
    lab = random_labels(n, 4, rng, p=0.3)
    F = torch.tensor(rng.standard_normal((n, c)))
    G = torch.tensor(rng.standard_normal((n, c)))
    idx = torch.tensor(rng.choice(n, b, replace=False))
    miner = TripletMiner(3, 3, seed=1)
    terms = TDHTripletTerms(margin=1.0)
    for modality in ("text", "image"):
        own, other = (G, F) if modality == "text" else (F, G)
        inter = miner(lab[idx], lab)
        intra = miner(lab[idx], lab, exclude=idx)
        q = own[idx].clone().requires_grad_(True)
        # buffers that contain the query rows too: detaching must stop gradient through them
        own_buf = own.clone()
        own_buf[idx] = q
        Fb, Gb = (own_buf, other) if modality == "image" else (other, own_buf)
        out = terms(modality, q, Fb, Gb, inter, intra)
        assert set(out) == ({"J1", "J3"} if modality == "image" else {"J2", "J4"})
        sum(out.values()).backward()
        want = torch.zeros_like(q)
        for mined, bank in ((inter, other), (intra, own)):
            g = triplet_gradients(q.detach()[mined.anchor], bank[mined.pos], bank[mined.neg], 1.0)
            want.index_add_(0, mined.anchor, g)
        torch.testing.assert_close(q.grad, want, rtol=1e-12, atol=1e-12)


def test_eq_13_sign_correction_descends():
    """A small step against the corrected gradient lowers the loss (the seed's '+' sign would raise it)."""
    rng = np.random.default_rng(5)
    q = torch.tensor(rng.standard_normal((4, 6)))
    pos = torch.tensor(rng.standard_normal((4, 2, 6)))
    neg = torch.tensor(rng.standard_normal((4, 2, 6)))

    def J(x):
        return nnf.softplus(-triplet_deltas(x, pos, neg, 1.0)).sum()

    g = triplet_gradients(q, pos, neg, 1.0)
    assert J(q - 1e-3 * g) < J(q) < J(q + 1e-3 * g)


# ----------------------------------------------------------------------------- the miner

def test_valid_mask_matches_brute_force():
    rng = np.random.default_rng(6)
    lab = random_labels(25, 4, rng)
    anchors = np.arange(7)
    pos, neg = valid_triplet_mask(lab[anchors], lab, exclude=anchors)
    for a in range(7):
        for j in range(25):
            share = bool((lab[a] & lab[j]).any())
            assert pos[a, j].item() == (share and j != a)
            assert neg[a, j].item() == (not share)


@pytest.mark.parametrize("intra", [False, True])
def test_miner_returns_only_valid_triplets_and_covers_the_valid_set(intra):
    rng = np.random.default_rng(7)
    n, l = 14, 3
    lab = random_labels(n, l, rng, p=0.3)
    anchors = np.arange(5)
    exclude = anchors if intra else None
    valid = brute_force_valid(lab[anchors], lab, exclude)
    miner = TripletMiner(m_pos=2, m_neg=2, seed=0)
    seen = set()
    for _ in range(400):
        mined = miner(lab[anchors], lab, exclude=exclude)
        a, p, nn_ = mined.tuples()
        assert len(a) == mined.n_triplets == len(mined.anchor) * 4
        got = set(zip(a.tolist(), p.tolist(), nn_.tolist()))
        assert got <= valid, got - valid
        seen |= got
    assert seen == valid


def test_miner_samples_without_replacement_when_enough_candidates():
    rng = np.random.default_rng(8)
    lab = random_labels(200, 5, rng, p=0.3)
    mined = TripletMiner(8, 8, seed=3)(lab[:32], lab, exclude=np.arange(32))
    for row in torch.cat([mined.pos, mined.neg], 1).reshape(-1, 8):
        assert len(set(row.tolist())) == 8


def test_miner_wraps_when_few_candidates_and_counts_skipped_anchors():
    # labels: 0 and 1 share label 0; 2 is alone in label 1; 3 has label 2 only with no partner
    lab = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]], dtype=np.uint8)
    miner = TripletMiner(m_pos=3, m_neg=2, seed=0)
    mined = miner(lab, lab, exclude=np.arange(5))
    # anchor 3 has no positive besides itself -> skipped
    assert mined.no_positive == 1 and mined.no_negative == 0 and mined.n_anchors == 5
    assert mined.anchor.tolist() == [0, 1, 2, 4]
    # anchor 0 has exactly one positive (1): all three draws are it
    assert mined.pos[0].tolist() == [1, 1, 1]
    # an all-same-label set: nobody has a negative
    same = np.ones((4, 2), dtype=np.uint8)
    m2 = miner(same, same)
    assert m2.no_negative == 4 and m2.anchor.numel() == 0 and m2.n_triplets == 0


def test_miner_is_seeded_and_uniform():
    rng = np.random.default_rng(9)
    lab = random_labels(60, 4, rng)
    m_a, m_b = TripletMiner(4, 4, seed=11), TripletMiner(4, 4, seed=11)
    x, y = m_a(lab[:10], lab), m_b(lab[:10], lab)
    assert torch.equal(x.pos, y.pos) and torch.equal(x.neg, y.neg)
    m_a.reset()
    assert torch.equal(m_a(lab[:10], lab).pos, x.pos)
    # uniformity: the positives of anchor 0 are drawn about equally often
    pos_mask, _ = valid_triplet_mask(lab[:1], lab)
    k = int(pos_mask.sum())
    counts = np.zeros(60)
    m = TripletMiner(1, 1, seed=0)
    draws = 3000
    for _ in range(draws):
        counts[m(lab[:1], lab).pos[0, 0].item()] += 1
    valid_counts = counts[pos_mask[0].numpy()]
    assert counts[~pos_mask[0].numpy()].sum() == 0
    expected = draws / k
    chi2 = ((valid_counts - expected) ** 2 / expected).sum()
    assert chi2 < k + 6 * np.sqrt(2 * k)  # loose chi-square bound


def test_empty_tuples_give_zero_loss_with_gradient():
    lab = np.ones((3, 2), dtype=np.uint8)
    F = torch.randn(3, 4, dtype=torch.float64)
    mined = TripletMiner(2, 2)(lab, lab)
    q = F.clone().requires_grad_(True)
    out = TDHTripletTerms()("image", q, F, F, mined, mined)
    assert out["J1"].item() == 0.0
    sum(out.values()).backward()
    assert torch.equal(q.grad, torch.zeros_like(q))


# ----------------------------------------------------------------------------- bad input

def test_bad_inputs_raise_clear_errors():
    lab = np.eye(3, dtype=np.uint8)
    with pytest.raises(ValueError, match="m_pos"):
        TripletMiner(m_pos=0)
    with pytest.raises(ValueError, match="anchor_labels"):
        TripletMiner()(lab[0], lab)
    with pytest.raises(ValueError, match="label columns"):
        TripletMiner()(lab[:, :2], lab)
    with pytest.raises(ValueError, match="multi-hot"):
        TripletMiner()(lab * 2, lab)
    with pytest.raises(ValueError, match="exclude"):
        TripletMiner()(lab, lab, exclude=[0, 1])
    x = torch.zeros(4, 3)
    with pytest.raises(ValueError, match="same"):
        TripletLikelihoodLoss()(x, x, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="NaN"):
        TripletLikelihoodLoss()(x, x, torch.full((4, 3), float("nan")))
    with pytest.raises(ValueError, match="modality"):
        TDHTripletTerms()("audio", x, x, x, None, None)
    mined = TripletMiner(1, 1)(lab, lab)
    with pytest.raises(ValueError, match="anchors"):
        TDHTripletTerms()("text", torch.zeros(2, 3), x, x, mined, mined)
    assert isinstance(mined, MinedTriplets)


def test_inter_intra_draws_equal_the_two_separate_calls():
    """The TDH batch path mines both sets from one label comparison; the draws are those of the two calls."""
    rng = np.random.default_rng(4)
    lab = random_labels(80, 5, rng)
    idx = np.arange(10, 26)
    a, b = TripletMiner(3, 4, seed=5), TripletMiner(3, 4, seed=5)
    inter, intra = a.inter_intra(lab[idx], lab, idx)
    want_inter, want_intra = b(lab[idx], lab), b(lab[idx], lab, exclude=idx)
    for got, want in ((inter, want_inter), (intra, want_intra)):
        assert torch.equal(got.anchor, want.anchor) and torch.equal(got.pos, want.pos)
        assert torch.equal(got.neg, want.neg)
    # the anchor never is its own intra-modal positive, and can be an inter-modal one
    assert not (intra.pos == torch.as_tensor(idx)[intra.anchor].unsqueeze(1)).any()
    with pytest.raises(ValueError, match="exclude"):
        a.inter_intra(lab[idx], lab, idx[:3])
