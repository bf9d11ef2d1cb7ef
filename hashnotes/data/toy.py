"""The embedded toy dataset: seeded multi-label image-text pairs (no download).

Each concept is an object kind = a shape family x a colour family ("red disc", "blue ring", ...).
Every colour occurs with several shapes and every shape with several colours, so a kind is fixed
only by the conjunction of spatial structure and colour: a colour histogram or a single pixel
statistic cannot tell "red disc + blue ring" from "red ring + blue disc"; the image side needs a CNN.
Labels come in correlated "scenes" (draw a scene, then mostly its concepts). Texts are noisy
bags of words: 2-3 synonyms per concept, dropped tags, partial words ("red", "ring"), occasional
wrong tags, and generic background tags.
"""
from __future__ import annotations

import numpy as np

from .base import CrossModalDataset, PairSet
from .protocol import apply_split, make_split

__all__ = ["toy", "toy_pairs", "SHAPES", "COLOURS"]

SHAPES = ("disc", "ring", "square", "frame", "cross", "triangle")
COLOURS = ("red", "green", "blue", "yellow")
_RGB = {"red": (205, 40, 45), "green": (40, 170, 70), "blue": (45, 85, 225), "yellow": (235, 205, 40)}
_COLOUR_SYN = {"red": ("red", "crimson", "scarlet"), "green": ("green", "emerald", "lime"),
               "blue": ("blue", "azure", "navy"), "yellow": ("yellow", "golden", "amber")}
_SHAPE_SYN = {"disc": ("disc", "circle", "dot"), "ring": ("ring", "hoop", "loop"),
              "square": ("square", "block", "tile"), "frame": ("frame", "outline", "border"),
              "cross": ("cross", "plus", "xmark"), "triangle": ("triangle", "wedge", "delta")}
_SYNONYM_STREAM = 0x5E7  # second seed word of the generator that fixes each concept's synonym count
_BACKGROUND_WORDS = (
    "photo image picture nikon canon sony 2006 2007 2008 2009 summer winter spring autumn travel "
    "holiday vacation family friends party city street home art abstract light dark shadow "
    "colour colors bw macro closeup nature landscape urban night day morning evening weekend "
    "explore interesting flickr favorite beautiful cool nice fun old new vintage retro digital "
    "film lens camera shot snapshot random test project series set album upload edited "
    "format pattern texture shape geometry design graphic minimal clean noise blur bokeh "
    "bright soft hard simple complex small big tiny huge many few group single pair "
    "left right top bottom center corner edge middle background foreground scene view "
    "work play sketch draft study detail"
).split()


def _concepts(n_concepts: int):
    """(shape, colour) per concept: shape-major over the first ceil(n/4) shapes, all four colours."""
    if not isinstance(n_concepts, (int, np.integer)) or isinstance(n_concepts, bool):
        raise ValueError(f"n_concepts must be an int, got {n_concepts!r}")
    if not 12 <= n_concepts <= len(SHAPES) * len(COLOURS):
        raise ValueError(f"n_concepts must be in 12..{len(SHAPES) * len(COLOURS)}, got {n_concepts}")
    pairs = [(s, c) for s in SHAPES for c in COLOURS]
    return pairs[:n_concepts]


def _gumbel_topk_mask(rng, logw: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Row-wise sampling without replacement of ``k[i]`` columns with probabilities prop. to ``exp(logw)``."""
    keys = logw + rng.gumbel(size=logw.shape)
    ranks = np.argsort(np.argsort(-keys, axis=1, kind="stable"), axis=1, kind="stable")
    return ranks < k[:, None]


def _shape_masks(shape: str, dx: np.ndarray, dy: np.ndarray, r: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of one shape family; all arrays broadcast to (m, S, S)."""
    ct, st = np.cos(theta), np.sin(theta)
    u, v = ct * dx + st * dy, -st * dx + ct * dy
    if shape == "disc":
        dist = np.sqrt(u * u + v * v) - r
    elif shape == "ring":
        dist = np.abs(np.sqrt(u * u + v * v) - 0.68 * r) - 0.32 * r
    elif shape == "square":
        dist = np.maximum(np.abs(u), np.abs(v)) - 0.82 * r
    elif shape == "frame":
        dist = np.abs(np.maximum(np.abs(u), np.abs(v)) - 0.62 * r) - 0.24 * r
    elif shape == "cross":
        dist = np.maximum(np.minimum(np.abs(u), np.abs(v)) - 0.3 * r, np.maximum(np.abs(u), np.abs(v)) - r)
    elif shape == "triangle":
        d = None
        for a in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3):
            h = np.cos(a) * u + np.sin(a) * v - 0.5 * r
            d = h if d is None else np.maximum(d, h)
        dist = d
    else:  # pragma: no cover - guarded by _concepts
        raise ValueError(f"unknown shape {shape!r}")
    return np.clip(0.5 - dist, 0.0, 1.0)


def _render(rng, objects: np.ndarray, concepts, image_size: int, chunk: int | None = None) -> np.ndarray:
    """Render images ``(n, 3, S, S)`` uint8. ``objects``: (n, m) concept ids, -1 for an empty slot."""
    n, m = objects.shape
    S = image_size
    chunk = chunk or max(16, (1 << 20) // (S * S))  # bounded temporaries (~100 MB) at any image size
    # per-item and per-object random parameters (drawn up front so chunking does not change the result)
    base = rng.uniform(70, 150, size=(n, 1, 1, 1)) + rng.normal(0, 12, size=(n, 3, 1, 1))
    grad = rng.normal(0, 25, size=(n, 3, 2))
    clutter_xy = rng.uniform(0, S, size=(n, 6, 2))
    clutter_len = rng.uniform(0.15 * S, 0.45 * S, size=(n, 6))
    clutter_ang = rng.uniform(0, np.pi, size=(n, 6))
    clutter_col = rng.uniform(40, 200, size=(n, 6, 1)) + rng.normal(0, 15, size=(n, 6, 3))
    radius = rng.uniform(0.11 * S, 0.2 * S, size=(n, m))
    cx = rng.uniform(0, 1, size=(n, m)) * (S - 2 * radius) + radius
    cy = rng.uniform(0, 1, size=(n, m)) * (S - 2 * radius) + radius
    theta = rng.uniform(0, 2 * np.pi, size=(n, m))
    jitter = rng.normal(0, 18, size=(n, m, 3))
    bright = rng.uniform(0.8, 1.1, size=(n, m, 1))
    noise_seed = int(rng.integers(2**63 - 1))

    shape_of = np.array([SHAPES.index(s) for s, _ in concepts] + [-1])  # index -1 -> empty slot
    rgb_of = np.array([_RGB[c] for _, c in concepts] + [(0, 0, 0)], dtype=np.float64)
    kind_shape = shape_of[objects]  # (n, m); -1 where empty
    colour = rgb_of[objects] * bright + jitter  # (n, m, 3)

    f32 = np.float32
    grid = np.arange(S, dtype=f32) + f32(0.5)
    gy, gx = grid[:, None], grid[None, :]
    out = np.empty((n, 3, S, S), dtype=np.uint8)
    noise_rng = np.random.default_rng(noise_seed)
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        b = sl.stop - sl.start
        img = (base[sl] + grad[sl, :, 0, None, None] * (gx / S - 0.5)
               + grad[sl, :, 1, None, None] * (gy / S - 0.5)).astype(f32)
        img = np.broadcast_to(img, (b, 3, S, S)).copy()
        # clutter: thin grey-ish line segments (not any concept's shape or colour family), all at once
        x0 = clutter_xy[sl, :, 0, None, None].astype(f32)
        y0 = clutter_xy[sl, :, 1, None, None].astype(f32)
        ca = np.cos(clutter_ang[sl])[:, :, None, None].astype(f32)
        sa = np.sin(clutter_ang[sl])[:, :, None, None].astype(f32)
        along = (gx - x0) * ca + (gy - y0) * sa
        across = (gy - y0) * ca - (gx - x0) * sa
        half = (clutter_len[sl] / 2)[:, :, None, None].astype(f32)
        cov = np.clip(0.5 - np.maximum(np.abs(across) - 0.35, np.abs(along) - half), 0, 1)  # (b, 6, S, S)
        for j in range(cov.shape[1]):
            img += (0.7 * cov[:, j, None]) * (clutter_col[sl, j, :, None, None].astype(f32) - img)
        # objects, painted slot by slot (later slots may cover earlier ones), one vectorised call per shape
        for j in range(m):
            ks = kind_shape[sl, j]
            cov = np.zeros((b, S, S), dtype=f32)
            for s_id, s_name in enumerate(SHAPES):
                rows = np.nonzero(ks == s_id)[0]
                if rows.size == 0:
                    continue
                g = rows + sl.start
                cov[rows] = _shape_masks(s_name, gx - cx[g, j, None, None].astype(f32),
                                         gy - cy[g, j, None, None].astype(f32),
                                         radius[g, j, None, None].astype(f32),
                                         theta[g, j, None, None].astype(f32))
            img += cov[:, None] * (colour[sl, j, :, None, None].astype(f32) - img)
        img += noise_rng.standard_normal(size=img.shape, dtype=f32) * f32(10)
        out[sl] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out


def toy_pairs(n: int = 10000, n_concepts: int = 16, image_size: int = 32, seed: int = 0, n_scenes: int = 4,
              p_scene: float = 0.9, p_drop: float = 0.25, p_two_synonyms: float = 0.35, p_partial: float = 0.15,
              p_wrong: float = 0.05, spurious_mean: float = 2.0):
    """Generate the raw toy pairs. Returns ``(PairSet, label_names, vocab, info)``; see :func:`toy`."""
    for name, val in (("n", n), ("image_size", image_size), ("n_scenes", n_scenes), ("seed", seed)):
        if not isinstance(val, (int, np.integer)) or isinstance(val, bool):
            raise ValueError(f"{name} must be an int, got {val!r}")
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    if image_size < 16:
        raise ValueError(f"image_size must be >= 16 pixels, got {image_size}")
    if not 1 <= n_scenes <= 8:
        raise ValueError(f"n_scenes must be in 1..8, got {n_scenes}")
    for name, val in (("p_scene", p_scene), ("p_drop", p_drop), ("p_two_synonyms", p_two_synonyms),
                      ("p_partial", p_partial), ("p_wrong", p_wrong)):
        if not (0.0 <= float(val) <= 1.0):
            raise ValueError(f"{name} must be a probability in [0, 1], got {val!r}")
    if p_drop >= 1.0:
        raise ValueError("p_drop must be < 1 (every concept tag would be dropped)")
    if not (0.0 <= float(spurious_mean) <= 20.0):
        raise ValueError(f"spurious_mean must be in [0, 20], got {spurious_mean!r}")
    concepts = _concepts(n_concepts)
    C = len(concepts)
    label_names = tuple(f"{c} {s}" for s, c in concepts)
    rng = np.random.default_rng(seed)

    # --- scenes: a partition of the concepts plus one borrowed concept each (correlated co-occurrence)
    perm = rng.permutation(C)
    groups = np.array_split(perm, n_scenes)
    scene_members = np.zeros((n_scenes, C), dtype=bool)
    for k, grp in enumerate(groups):
        scene_members[k, grp] = True
        if n_scenes > 1:
            outside = np.nonzero(~scene_members[k])[0]
            scene_members[k, rng.choice(outside)] = True
    # probability mass p_scene on the scene's concepts, the rest spread over all others
    inside = scene_members.sum(1, keepdims=True)
    w = np.where(scene_members, p_scene / inside, (1 - p_scene) / np.maximum(C - inside, 1))
    scene = rng.integers(n_scenes, size=n)
    k_labels = rng.choice([2, 3, 4], p=[0.3, 0.4, 0.3], size=n)
    labels_b = _gumbel_topk_mask(rng, np.log(np.maximum(w[scene], 1e-12)), k_labels)
    labels = labels_b.astype(np.uint8)

    # objects: the label set in random slot order (overlaps happen), -1 for unused slots
    m = 4
    order_keys = np.where(labels_b, rng.random((n, C)), np.inf)
    slots = np.argsort(order_keys, axis=1, kind="stable")[:, :m]
    objects = np.where(np.arange(m)[None, :] < k_labels[:, None], slots, -1)
    images = _render(rng, objects, concepts, image_size)

    # --- texts
    # The vocabulary depends on n_concepts only (every concept's three synonyms, its colour and shape words,
    # the background words), so toy sets of any size and seed share columns and one model encodes them all.
    # How many synonyms a concept uses (2 or 3) depends on the seed only, not on n: it comes from its own
    # generator. The draw that used to decide it is still taken from the main stream, so every later draw
    # (dropped tags, partial words, background tags) is what it was.
    rng.choice([2, 3], size=C)
    n_syn = np.random.default_rng([int(seed), _SYNONYM_STREAM]).choice([2, 3], size=C)
    all_syn = [[f"{_COLOUR_SYN[c][j]}_{_SHAPE_SYN[s][j]}" for j in range(3)] for s, c in concepts]
    syn_words = [ws[:n_syn[i]] for i, ws in enumerate(all_syn)]
    used_colours = sorted({c for _, c in concepts}, key=COLOURS.index)
    used_shapes = sorted({s for s, _ in concepts}, key=SHAPES.index)
    vocab = [w_ for ws in all_syn for w_ in ws] + used_colours + used_shapes + list(_BACKGROUND_WORDS)
    col = {w_: i for i, w_ in enumerate(vocab)}
    V = len(vocab)
    texts = np.zeros((n, V), dtype=np.float32)

    kept = labels_b & (rng.random((n, C)) >= p_drop)
    wrong = (rng.random(n) < p_wrong)
    wrong_concept = _gumbel_topk_mask(rng, np.where(labels_b, -np.inf, 0.0), np.ones(n, dtype=int))
    kept |= wrong[:, None] & wrong_concept
    n_emit = np.where(rng.random((n, C)) < p_two_synonyms, 2, 1)
    syn_keys = rng.random((n, C, 3))
    for i in range(C):
        ranks = np.argsort(np.argsort(syn_keys[:, i, :n_syn[i]], axis=1), axis=1)
        on = kept[:, i, None] & (ranks < n_emit[:, i, None])
        for j, w_ in enumerate(syn_words[i]):
            texts[:, col[w_]] = np.maximum(texts[:, col[w_]], on[:, j])
    # partial words: a present concept sometimes yields only its colour or its shape word
    partial = labels_b & (rng.random((n, C)) < p_partial)
    pick_colour = rng.random((n, C)) < 0.5
    for i, (s, c) in enumerate(concepts):
        texts[:, col[c]] = np.maximum(texts[:, col[c]], partial[:, i] & pick_colour[:, i])
        texts[:, col[s]] = np.maximum(texts[:, col[s]], partial[:, i] & ~pick_colour[:, i])
    # generic background tags, Zipf-like frequencies, 1 + Poisson(spurious_mean - 1) distinct words each
    nb = len(_BACKGROUND_WORDS)
    zipf = -np.log(np.arange(1, nb + 1, dtype=np.float64))
    zipf = zipf[rng.permutation(nb)]
    k_bg = np.minimum(1 + rng.poisson(max(spurious_mean - 1.0, 0.0), size=n), 8) if spurious_mean > 0 \
        else np.zeros(n, dtype=int)
    bg = _gumbel_topk_mask(rng, np.broadcast_to(zipf, (n, nb)), k_bg)
    texts[:, V - nb:] = bg
    # every pair has >= 1 tag: an item left without any tag gets one synonym of one of its concepts
    empty = np.nonzero(texts.sum(1) == 0)[0]
    for r in empty:
        i = int(rng.choice(np.nonzero(labels_b[r])[0]))
        texts[r, col[syn_words[i][0]]] = 1.0

    info = {
        "generator": "hashnotes.data.toy", "seed": int(seed), "n": int(n), "n_concepts": int(C),
        "image_size": int(image_size), "n_scenes": int(n_scenes), "p_scene": float(p_scene),
        "p_drop": float(p_drop), "p_two_synonyms": float(p_two_synonyms), "p_partial": float(p_partial),
        "p_wrong": float(p_wrong), "spurious_mean": float(spurious_mean),
        "scenes": [[label_names[i] for i in np.nonzero(row)[0]] for row in scene_members],
        "synonyms": {label_names[i]: list(ws) for i, ws in enumerate(syn_words)},
    }
    pairs = PairSet(images=images, texts=texts, labels=labels, ids=np.arange(n, dtype=np.int64))
    return pairs, label_names, tuple(vocab), info


def toy(n: int = 10000, n_concepts: int = 16, image_size: int = 32, seed: int = 0, split: str | None = "toy",
        n_query: int | None = None, n_train: int | None = None, n_val: int | None = None,
        split_seed: int | None = None, **generator_kwargs) -> CrossModalDataset:
    """The embedded toy dataset: ``n`` seeded multi-label image-text pairs, cut by a protocol split.

    Parameters
    ----------
    n : int
        Number of pairs.
    n_concepts : int
        12..24 object kinds (shape x colour), e.g. ``"red disc"``; 2-4 per pair (mean 3).
    image_size : int
        Side ``S`` of the ``(n, 3, S, S)`` uint8 images (32 by default; 64 works too).
    seed : int
        Seed of the generator (same seed -> identical arrays); also the split seed unless
        ``split_seed`` is given.
    split : str or None
        A preset of :data:`~hashnotes.data.protocol.PROTOCOLS`. ``"toy"`` (default) scales with ``n``:
        query ``round(0.1 n)``, val ``round(0.05 n)``, train ``min(2000, round(0.4 n))`` -- 1,000 / 9,000 /
        2,000 / 500 for ``n=10,000`` and 200 / 1,800 / 800 / 100 for ``n=2,000``. ``None``: custom sizes.
    n_query, n_train, n_val : int, optional
        Override the preset's sizes (with ``split=None``, ``n_query`` is required).
    **generator_kwargs
        ``n_scenes`` (4), ``p_scene`` (0.9), ``p_drop`` (0.25), ``p_two_synonyms`` (0.35),
        ``p_partial`` (0.15), ``p_wrong`` (0.05), ``spurious_mean`` (2.0): see :func:`toy_pairs`.

    Returns
    -------
    CrossModalDataset
        Texts are 0/1 float32 bags of words over ``vocab`` (concept synonyms like ``"crimson_circle"``,
        partial words like ``"red"``, and generic background words); ``info`` records every parameter.
    """
    pairs, label_names, vocab, info = toy_pairs(n=n, n_concepts=n_concepts, image_size=image_size, seed=seed,
                                                **generator_kwargs)
    sp = make_split(n, preset=split, n_query=n_query, n_train=n_train, n_val=n_val,
                    seed=seed if split_seed is None else split_seed)
    return apply_split(pairs, sp, name="toy", label_names=label_names, vocab=vocab, info=info)
