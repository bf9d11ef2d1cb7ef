"""CDHCR: Cauchy-distribution deep hashing for cross-media retrieval.

Tian F., Li C., Liu F., Li T., Zhang L., Liu Z., "Cross-media retrieval with deep hashing based on the
Cauchy distribution" (基于柯西分布的深度哈希跨媒体检索), *Computer Systems & Applications* (计算机系统应用)
30(8), 2021. No code was released and the equations did not survive in our source; this is the book's
reconstruction: DCMH's alternating framework with the Cauchy likelihood of DCH (Cao et al., CVPR 2018).
"CDHCR" is the package's name for it.

Objective, eq. (7) (row-major ``(n, c)`` here; the paper's ``F in R^{c x n}`` is ``F.T``)::

    J = sum_ij w_ij [log(phi_ij + gamma) - (1 - s_ij) log phi_ij - s_ij log gamma]   # eq. (5), Cauchy CE
        + alpha (||B - F||_F^2 + ||B - G||_F^2)                                     # eq. (6), quantization

with ``F = tanh(f(X))``, ``G = tanh(g(Y))``, ``phi`` the cosine (default) or inner-product Hamming
surrogate and ``p(s = 1) = gamma / (gamma + phi)`` (eq. (4)). B-step, eqs. (10)-(12): ``B = sign(F + G)``.
The loss terms are :mod:`hashnotes.losses.cauchy`; the loop is :class:`hashnotes.train.AlternatingHashing`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import similarity
from .._checks import check_choice, check_number
from ..losses import cauchy
from ..train import AlternatingConfig, AlternatingHashing
from ..train.networks import small_budget

__all__ = ["CDHCRConfig", "CDHCR"]


@dataclass(frozen=True)
class CDHCRConfig(AlternatingConfig):
    """CDHCR hyperparameters; the defaults are the published settings (:meth:`CDHCR.paper`).

    gamma: Cauchy scale, the Hamming radius at which ``p(similar) = 1/2`` (paper: 10).
    alpha: weight of the quantization term (paper: 1).
    distance: ``"cosine"`` (DCH's ``c/2 (1 - cos)``, default) or ``"inner"`` (``(c - F.G)/2``).
    dch_weights: weight pairs by DCH's class balance ``1/p`` (similar) and ``1/(1-p)`` (dissimilar), ``p`` the
        similar fraction of the training set (DCH, Cao et al. 2018, eq. 2; default on). False gives every pair
        weight 1, the unweighted ablation: where similar pairs are rare it collapses (Wikipedia, 10% similar
        pairs: every image code became A and every text code -A within 4 epochs, mAP at the random level).
    eps: added to ``phi`` inside ``log phi`` and (squared) to the squared norms of the cosine distance.
    Networks and optimiser (:class:`~hashnotes.train.networks.DeepConfig`): ResNet-34 trunk -> 4096 -> bits
    (``pretrained_path``: a torchvision ResNet-34 state dict), text BoW -> 4096 -> 4096 -> bits, tanh outputs;
    RMSprop with lr 1e-4 (image) / 3e-4 (text), halved every 15 epochs; batch 128, 100 epochs (the paper gives
    neither the batch size nor the number of epochs). The loop: text network first, random buffers
    ``F, G ~ N(0, 1)`` and the B-step from the start: with ``F = G = 0`` the cosine distance is constant (no
    likelihood gradient) and ``B = sign(0) = +1`` everywhere, and CDHCR has no bit-balance term to undo the
    resulting collapse to one code.
    """

    epochs: int = 100
    batch_size: int = 128
    gamma: float = 10.0
    alpha: float = 1.0
    distance: str = "cosine"
    dch_weights: bool = True
    eps: float = 1e-6
    image_net: str = "resnet34"
    image_size: int | None = 224
    text_hidden: tuple = (4096, 4096)
    optimizer: str = "rmsprop"
    lr_image: float = 1e-4
    lr_text: float = 3e-4
    lr_schedule: str = "step"
    lr_step: int = 15
    lr_decay: float = 0.5
    modality_order: tuple = ("text", "image")  # DCMH's order
    buffer_init: str = "randn"
    first_b: str = "sign"

    def __post_init__(self):
        super().__post_init__()
        check_number(self.gamma, "gamma", strict=True)
        check_number(self.alpha, "alpha")
        check_number(self.eps, "eps", strict=True)
        check_choice(self.distance, "distance", cauchy.DISTANCES)
        if not isinstance(self.dch_weights, bool):
            raise ValueError(f"dch_weights must be True or False, got {self.dch_weights!r}")


class CDHCR(AlternatingHashing):
    """Cauchy deep hashing for cross-media retrieval (Tian et al. 2021) on the shared alternating loop.

    ``CDHCR.small()`` is the shared reduced budget of the supervised deep methods
    (:data:`~hashnotes.train.networks.SMALL_BUDGET`): a :class:`~hashnotes.nets.SmallCNN` (width 16) instead of
    ResNet-34 (32/64 px images, no pretrained weights), a text MLP 512 instead of 4096-4096, a per-bit
    normalisation before the tanh, 20 epochs with batch 64 and validation every 10, and Adam with DCMH.small's
    log-spaced rate instead of the paper's RMSprop at 1e-4 / 3e-4 halved every 15 epochs. The optimiser is the
    one named difference from the paper: a comparison with DCMH must differ in the likelihood, not in how the
    networks are trained. The objective, gamma, alpha, the pair weights and the loop are unchanged.

    >>> model = CDHCR.small(bits=32).fit(ds)                       # doctest: +SKIP
    >>> model.evaluate(ds)["p_at_r2_i2t"]                           # doctest: +SKIP
    """

    config_class = CDHCRConfig
    name = "cdhcr"
    small_settings = small_budget()

    def output_activation(self, z: torch.Tensor) -> torch.Tensor:
        """tanh on both networks' outputs."""
        return torch.tanh(z)

    def prepare_state(self, train, state):
        """With ``dch_weights``: the similar fraction of the training set, from the label degrees."""
        if self.config.dch_weights:
            n = state.n
            p = float(similarity.degrees(state.labels).sum()) / (n * n)
            if not 0.0 < p < 1.0:
                raise ValueError(f"dch_weights=True needs both similar and dissimilar training pairs; "
                                 f"the similar fraction is {p}")
            state.extra["similar_frac"] = p

    def b_step(self, state):
        """Eqs. (10)-(12): ``B = sign(F + G)``, ``sign(0) = +1`` (exact; the Cauchy term has no B)."""
        return cauchy.b_step(state.F, state.G)

    def _weights(self, state):
        return state.extra["similar_frac"] if self.config.dch_weights else None

    def batch_loss(self, modality, idx, out, state):
        """Eq. (7) restricted to the batch rows, the other modality taken from its buffer."""
        cfg = self.config
        S = similarity.similarity(state.labels[idx], state.labels, dtype=out.dtype)  # (b, n)
        return cauchy.batch_loss(out, state.other(modality), state.B[idx], S, gamma=cfg.gamma, alpha=cfg.alpha,
                                 distance=cfg.distance, weights=self._weights(state), eps=cfg.eps)

    def objective(self, state):
        """Full eq. (7) on the buffers (of the objective's item sample), as sums: ``cauchy``, ``quantization``,
        ``total``."""
        cfg, v = self.config, state.objective_view()
        terms = cauchy.objective(v.F, v.G, v.B, labels=v.labels, gamma=cfg.gamma, alpha=cfg.alpha,
                                 distance=cfg.distance, weights=self._weights(state), eps=cfg.eps)
        return {k: float(v) for k, v in terms.items()}
