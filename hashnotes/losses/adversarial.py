"""UGACH's adversarial terms: the discriminator's hinge triplet score, the generator's policy and rewards,
and the REINFORCE estimators of its gradient.

Zhang, Peng & Yuan, "Unsupervised Generative Adversarial Cross-modal Hashing", AAAI 2018; the generator's
policy gradient follows IRGAN (Wang et al., SIGIR 2017) and REINFORCE (Williams 1992).

Outputs are sigmoid hash-layer activations ``h in (0, 1)^c``, row-major ``(n, c)``. For a query ``q``, a
"manifold" positive ``x^M`` (a neighbour in the correlation graph) and a candidate ``x``:

* distance ``d(q, x) = ||h(q) - h(x)||^2`` (:func:`squared_distances`);
* discriminator score ``f(x, q) = max(0, m + d(q, x^M) - d(q, x))`` (:func:`triplet_score`), zero once the
  candidate is at least the margin ``m`` further from ``q`` than the positive; the discriminator minimises
  the sum of ``f`` over (query, positive, generated) triplets (:func:`batch_loss`);
* generator policy over a candidate pool ``C_q``: ``p(x | q) = softmax_{x in C_q}(-||h(q) - h(x)||^2)``
  (:func:`policy_scores`, :func:`log_policy`, with ``log_softmax``);
* reward ``r = log(1 + e^f)`` (``softplus``, the paper's) or ``sigmoid(f)`` (the released code's)
  (:func:`reward`).

The generator maximises ``J(q) = sum_{x in C_q} p(x | q) r(x, q)``. Its gradient has three estimators here:

* ``exact`` (:func:`generator_loss_exact`): the expectation over the whole pool, differentiated directly;
  by the REINFORCE identity ``grad J = sum_x p r grad log p``, and in the scores ``s`` it is the closed form
  ``dJ/ds_j = p_j (r_j - sum_x p_x r_x)`` (:func:`gradients`);
* ``sampled``, ``softmax_over="pool"`` (:func:`generator_loss_sampled`): ``1/K sum_k r_k grad log p(x_k)``
  with ``K`` items drawn from ``p``: unbiased;
* ``sampled``, ``softmax_over="samples"``: the released code's, where ``log p`` is a softmax over the ``K``
  drawn items only. For ``K = 2`` its expectation is
  ``E[g_j] = p_j sum_l p_l (r_j sigmoid(s_l - s_j) - r_l sigmoid(s_j - s_l))`` (:func:`code_estimator_mean`),
  against ``p_j sum_l p_l (r_j - r_l)`` for the exact gradient: half of it when all scores are equal, and
  otherwise biased; with equal rewards it is not zero but pulls the scores of each pair together.

As every family in :mod:`hashnotes.losses`, the functions return dicts of named sums including ``"total"``
(the method divides by its batch size) and :func:`gradients` is the closed form.
"""
from __future__ import annotations

import torch
import torch.nn.functional as nnf

from .._checks import check_choice, check_finite

__all__ = ["REWARDS", "SOFTMAX_OVER", "squared_distances", "triplet_score", "batch_loss", "objective", "reward",
           "policy_scores", "log_policy", "generator_loss_exact", "generator_loss_sampled", "gradients",
           "score_gradient_samples", "code_estimator_mean"]

REWARDS = ("log1pexp", "sigmoid")
SOFTMAX_OVER = ("pool", "samples")


def _tensor(x, name: str, ndim: tuple[int, ...]) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if x.ndim not in ndim:
        raise ValueError(f"{name} must be {' or '.join(f'{d}-D' for d in ndim)}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")
    check_finite(x, name)
    return x


def squared_distances(q: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``||q - x||^2`` along the last axis: ``q`` (b, c) with ``x`` (b, c) -> (b,), or ``x`` (b, m, c) -> (b, m)."""
    _tensor(q, "q", (2,))
    _tensor(x, "x", (2, 3))
    if x.shape[0] != q.shape[0] or x.shape[-1] != q.shape[-1]:
        raise ValueError(f"q is {tuple(q.shape)} but x is {tuple(x.shape)}; need the same rows and width")
    diff = (q.unsqueeze(1) - x) if x.ndim == 3 else (q - x)
    return (diff * diff).sum(-1)


def triplet_score(h_q, h_pos, h_gen, margin: float) -> torch.Tensor:
    """The discriminator's score ``f = max(0, m + ||h_q - h_pos||^2 - ||h_q - h_gen||^2)``.

    ``h_q`` (b, c); ``h_pos`` (b, c); ``h_gen`` (b, c) -> (b,) or (b, m, c) -> (b, m) (one positive per
    query against m candidates). Zero when ``d(q, gen) >= d(q, pos) + m``.
    """
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin < 0:
        raise ValueError(f"margin must be a number >= 0, got {margin!r}")
    d_pos = squared_distances(h_q, h_pos)
    d_gen = squared_distances(h_q, h_gen)
    if d_gen.ndim == 2:
        d_pos = d_pos.unsqueeze(1)
    return nnf.relu(margin + d_pos - d_gen)


def batch_loss(h_q, h_pos, h_gen, margin: float) -> dict:
    """The discriminator's hinge on a batch of triplets, as a sum: ``{"hinge", "total"}``.

    The released code minimises this hinge (its mean) rather than the GAN value with ``D = sigmoid(f)``;
    both push a manifold positive closer to the query than a generated item.
    """
    hinge = triplet_score(h_q, h_pos, h_gen, margin).sum()
    return {"hinge": hinge, "total": hinge}


def objective(h_q, h_pos, h_gen, margin: float) -> dict:
    """The hinge over all given triplets (the discriminator's objective), as floats: ``{"hinge", "total",
    "active"}`` where ``active`` is the fraction of triplets with ``f > 0``."""
    with torch.no_grad():
        f = triplet_score(h_q, h_pos, h_gen, margin)
    return {"hinge": float(f.sum()), "total": float(f.sum()), "active": float((f > 0).double().mean())}


def reward(f: torch.Tensor, kind: str = "log1pexp") -> torch.Tensor:
    """The generator's reward from the discriminator's score: ``softplus(f) = log(1 + e^f)`` (paper) or
    ``sigmoid(f)`` (released code)."""
    check_choice(kind, "reward", REWARDS)
    _tensor(f, "f", (1, 2, 3))
    return nnf.softplus(f) if kind == "log1pexp" else torch.sigmoid(f)


def policy_scores(h_q: torch.Tensor, h_cand: torch.Tensor) -> torch.Tensor:
    """The generator's scores ``s = -||h(q) - h(x)||^2``: ``h_q`` (b, c), ``h_cand`` (b, m, c) -> (b, m)."""
    return -squared_distances(h_q, h_cand)


def log_policy(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``log p`` over each row's pool, ``log_softmax`` of the scores (b, m). ``mask`` (b, m) bool: only
    True entries are in the pool (others get ``-inf``); every row needs at least one."""
    _tensor(scores, "scores", (2,))
    if mask is not None:
        if mask.shape != scores.shape:
            raise ValueError(f"mask must have shape {tuple(scores.shape)}, got {tuple(mask.shape)}")
        if not bool(mask.any(1).all()):
            raise ValueError("every row of mask needs at least one candidate")
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.log_softmax(scores, dim=1)


def _check_rewards(scores, rewards):
    _tensor(scores, "scores", (2,))
    _tensor(rewards, "rewards", (2,))
    if rewards.shape != scores.shape:
        raise ValueError(f"rewards must have the shape of scores {tuple(scores.shape)}, got {tuple(rewards.shape)}")


def generator_loss_exact(scores: torch.Tensor, rewards: torch.Tensor) -> dict:
    """Minus the expected reward over each query's whole pool, ``-sum_q sum_x p(x|q) r(x, q)``, as sums.

    ``scores`` (b, m) with gradient, ``rewards`` (b, m) constants (detached here). Its autograd is the
    exact policy gradient; returns ``{"expected_reward", "total"}`` (``total = -expected_reward``).
    """
    _check_rewards(scores, rewards)
    expected = (torch.softmax(scores, dim=1) * rewards.detach()).sum()
    return {"expected_reward": expected, "total": -expected}


def generator_loss_sampled(scores: torch.Tensor, samples: torch.Tensor, rewards: torch.Tensor,
                           softmax_over: str = "pool") -> dict:
    """The REINFORCE surrogate ``-sum_q 1/K sum_k r_k log p(x_k | q)``, as sums.

    scores : (b, m) generator scores over each query's pool (with gradient).
    samples : (b, K) int, positions in the pool of the K items drawn from ``p``.
    rewards : (b, K) rewards of the drawn items (detached here).
    softmax_over : ``"pool"`` (``log p`` over the pool: the unbiased estimator) or ``"samples"`` (over the
        K drawn items only, as the released code does).

    Returns ``{"surrogate", "total"}`` with ``total = -surrogate``.
    """
    check_choice(softmax_over, "softmax_over", SOFTMAX_OVER)
    _tensor(scores, "scores", (2,))
    _tensor(rewards, "rewards", (2,))
    if samples.ndim != 2 or samples.shape != rewards.shape or samples.shape[0] != scores.shape[0]:
        raise ValueError(f"samples and rewards must both be (b, K) with b = {scores.shape[0]}, got "
                         f"{tuple(samples.shape)} and {tuple(rewards.shape)}")
    if int(samples.min()) < 0 or int(samples.max()) >= scores.shape[1]:
        raise ValueError(f"samples must be positions in the pool, 0..{scores.shape[1] - 1}")
    if softmax_over == "pool":
        logp = torch.gather(torch.log_softmax(scores, dim=1), 1, samples)
    else:
        logp = torch.log_softmax(torch.gather(scores, 1, samples), dim=1)
    surrogate = (rewards.detach() * logp).mean(1).sum()
    return {"surrogate": surrogate, "total": -surrogate}


def gradients(scores: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """Closed-form gradient of the expected reward with respect to the scores (b, m):
    ``dJ/ds_j = p_j (r_j - sum_x p_x r_x)`` (= ``sum_x p_x r_x d log p_x / d s_j``). The gradient of
    :func:`generator_loss_exact`'s ``total`` is its negative."""
    _check_rewards(scores, rewards)
    p = torch.softmax(scores, dim=1)
    return p * (rewards - (p * rewards).sum(1, keepdim=True))


def score_gradient_samples(scores: torch.Tensor, rewards: torch.Tensor, n_draws: int, k: int = 2,
                           softmax_over: str = "pool", generator: torch.Generator | None = None) -> torch.Tensor:
    """``n_draws`` independent draws of a sampled estimator of ``dJ/ds`` for one query, (n_draws, m).

    scores, rewards : (m,) one query's pool. Each draw samples ``k`` items from ``p = softmax(scores)`` with
    replacement (as the released code does) and returns the gradient of ``1/k sum r_k log p(x_k)`` with
    respect to the scores, with ``log p`` over the pool or over the drawn items. Vectorised over draws.
    """
    check_choice(softmax_over, "softmax_over", SOFTMAX_OVER)
    _tensor(scores, "scores", (1,))
    _tensor(rewards, "rewards", (1,))
    if scores.shape != rewards.shape:
        raise ValueError(f"scores and rewards must both be (m,), got {tuple(scores.shape)} and {tuple(rewards.shape)}")
    m = scores.shape[0]
    p = torch.softmax(scores, dim=0)
    idx = torch.multinomial(p.expand(n_draws, m), k, replacement=True, generator=generator)  # (n_draws, k)
    r = rewards[idx]  # (n_draws, k)
    onehot = nnf.one_hot(idx, m).to(scores.dtype)  # (n_draws, k, m)
    if softmax_over == "pool":
        # d log p_a / d s = e_a - p
        dlogp = onehot - p
    else:
        # d log ptilde_a / d s = e_a - sum_l ptilde_l e_{x_l}, ptilde = softmax over the drawn scores
        pt = torch.softmax(scores[idx], dim=1)  # (n_draws, k)
        dlogp = onehot - torch.einsum("dl,dlm->dm", pt, onehot).unsqueeze(1)
    return (r.unsqueeze(2) * dlogp).mean(1)


def code_estimator_mean(scores: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """Expectation of the released code's estimator (``K = 2`` items drawn with replacement, ``log p`` a
    softmax over the two) with respect to the scores, (m,) for one query's pool:
    ``E[g_j] = p_j sum_l p_l (r_j sigmoid(s_l - s_j) - r_l sigmoid(s_j - s_l))``.

    A draw ``(a, b)`` with ``a != b`` gives ``g = 1/2 (r_a pt_b - r_b pt_a)(e_a - e_b)`` with ``pt`` the
    softmax over the two scores; ``a = b`` gives 0. Summing over ordered pairs with probability
    ``p_a p_b`` gives the formula."""
    _tensor(scores, "scores", (1,))
    _tensor(rewards, "rewards", (1,))
    if scores.shape != rewards.shape:
        raise ValueError(f"scores and rewards must both be (m,), got {tuple(scores.shape)} and {tuple(rewards.shape)}")
    p = torch.softmax(scores, dim=0)
    w = torch.sigmoid(scores.unsqueeze(0) - scores.unsqueeze(1))  # w[j, l] = sigmoid(s_l - s_j)
    pair = rewards.unsqueeze(1) * w - rewards.unsqueeze(0) * w.T  # r_j sigma(s_l - s_j) - r_l sigma(s_j - s_l)
    return p * (pair * p.unsqueeze(0)).sum(1)
