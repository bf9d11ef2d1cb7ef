"""Diagrams of the five methods, drawn with matplotlib from code (so the book rebuilds them).

Every function returns a matplotlib ``Figure`` and never calls ``plt.show()``:

:func:`two_tower`
    The alternating two-network loop of DCMH, CDHCR and TDH (``method=``), with what the method changes:
    the supervision, the likelihood and the code update.
:func:`ugach_game`
    UGACH's generator and discriminator, the correlation graph they share and the reward between them.
:func:`daph_stages`
    DAPH's two stages: the proxy network, then one hashing network per modality against fixed proxies.
:func:`method_map`
    How the five methods relate: what each one changes, starting from DCMH.

A diagram is a set of labelled boxes joined by arrows. Each box is sized to its label (the label is measured
when the box is placed), so a longer formula never spills out. ``diagram_of(fig)`` returns the
:class:`Diagram` record of a figure: its boxes (key -> label, kind, patch) and arrows (source, target,
label), which the tests use to check that every expected box is drawn and that no two boxes overlap.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["two_tower", "ugach_game", "daph_stages", "method_map", "diagram_of", "Diagram", "TWO_TOWER_METHODS"]

# Fill colours by role; the captions name the roles.
COLOURS = {
    "data": "#eeeeee",     # inputs: images, texts, labels
    "net": "#cfe2f3",      # a network that is trained
    "codes": "#fde9c9",    # stored outputs, codes, proxies
    "loss": "#f8cecc",     # an objective
    "step": "#d5e8d4",     # a closed-form step or a sampler
}
FONT_SIZE = 11
PAD = 0.12   # space between a label and its box edge, in data units (inches: one data unit is one inch)


@dataclass
class Box:
    key: str
    label: str
    kind: str
    patch: object = None
    text: object = None


@dataclass
class Arrow:
    source: str
    target: str
    label: str
    patch: object = None
    text: object = None


@dataclass
class Diagram:
    """What a diagram drew: ``boxes`` by key, ``arrows`` in drawing order, ``groups`` (frame label -> keys)."""

    name: str
    boxes: dict = field(default_factory=dict)
    arrows: list = field(default_factory=list)
    groups: dict = field(default_factory=dict)

    def labels(self) -> dict:
        """key -> the box's label text."""
        return {k: b.label for k, b in self.boxes.items()}

    def edges(self) -> set:
        """``(source, target)`` of every arrow."""
        return {(a.source, a.target) for a in self.arrows}


def diagram_of(fig) -> Diagram:
    """The :class:`Diagram` a function of this module drew on ``fig``."""
    record = getattr(fig, "_hashnotes_diagram", None)
    if record is None:
        raise ValueError("fig: not a figure drawn by hashnotes.diagrams")
    return record


class _Canvas:
    """A figure whose data coordinates are inches (x right, y up), with boxes, arrows and group frames."""

    def __init__(self, name: str, width: float, height: float):
        import matplotlib.pyplot as plt

        self.fig = plt.figure(figsize=(width, height))
        self.ax = self.fig.add_axes((0, 0, 1, 1))
        self.ax.set_xlim(0, width)
        self.ax.set_ylim(0, height)
        self.ax.axis("off")
        self.record = Diagram(name)
        self.fig._hashnotes_diagram = self.record

    def _size(self, text) -> tuple[float, float]:
        """Width and height of a drawn text in data units (inches)."""
        ext = text.get_window_extent(renderer=self.fig.canvas.get_renderer())
        inv = self.ax.transData.inverted()
        (x0, y0), (x1, y1) = inv.transform([(ext.x0, ext.y0), (ext.x1, ext.y1)])
        return x1 - x0, y1 - y0

    def box(self, key: str, x: float, y: float, label: str, kind: str, min_width: float = 0.0):
        """A box centred at ``(x, y)`` around ``label`` (at least ``min_width`` wide)."""
        from matplotlib.patches import FancyBboxPatch

        if key in self.record.boxes:
            raise ValueError(f"box {key!r} drawn twice")
        text = self.ax.text(x, y, label, ha="center", va="center", fontsize=FONT_SIZE, zorder=3,
                            linespacing=1.35, multialignment="center")
        w, h = self._size(text)
        w = max(w, min_width - 2 * PAD)
        patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=f"round,pad={PAD},rounding_size=0.08",
                               facecolor=COLOURS[kind], edgecolor="#444444", linewidth=1.0, zorder=2)
        self.ax.add_patch(patch)
        self.record.boxes[key] = Box(key, label, kind, patch, text)
        return patch

    def arrow(self, source: str, target: str, label: str = "", *, bend: float = 0.0, dashed: bool = False,
              label_at: tuple[float, float] | None = None, colour: str = "#333333"):
        """An arrow from box ``source`` to box ``target``, clipped at both boxes; ``label`` beside it."""
        from matplotlib.patches import FancyArrowPatch

        a, b = self.record.boxes[source].patch, self.record.boxes[target].patch
        ca, cb = _centre(a), _centre(b)
        patch = FancyArrowPatch(ca, cb, patchA=a, patchB=b, arrowstyle="-|>", mutation_scale=12,
                                connectionstyle=f"arc3,rad={bend}", linewidth=1.2, color=colour,
                                linestyle=(0, (4, 3)) if dashed else "-", shrinkA=2, shrinkB=2, zorder=1)
        self.ax.add_patch(patch)
        text = None
        if label:
            lx, ly = label_at if label_at is not None else ((ca[0] + cb[0]) / 2, (ca[1] + cb[1]) / 2)
            text = self.ax.text(lx, ly, label, ha="center", va="center", fontsize=FONT_SIZE - 1, zorder=4,
                                color=colour, style="italic", linespacing=1.25,
                                bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none"))
        self.record.arrows.append(Arrow(source, target, label, patch, text))
        return patch

    def group(self, label: str, keys, margin: float = 0.2, label_side: str = "top"):
        """A dashed frame around the boxes ``keys``, titled ``label``."""
        from matplotlib.patches import FancyBboxPatch

        exts = [self.record.boxes[k].patch.get_extents().transformed(self.ax.transData.inverted())
                for k in keys]
        x0 = min(e.x0 for e in exts) - margin
        x1 = max(e.x1 for e in exts) + margin
        y0 = min(e.y0 for e in exts) - margin
        y1 = max(e.y1 for e in exts) + margin
        frame = FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0,rounding_size=0.12",
                               facecolor="none", edgecolor="#888888", linestyle=(0, (5, 4)), linewidth=1.0,
                               zorder=0)
        self.ax.add_patch(frame)
        ty = y1 + 0.05 if label_side == "top" else y0 - 0.05
        self.ax.text(x0 + 0.1, ty, label, ha="left", va="bottom" if label_side == "top" else "top",
                     fontsize=FONT_SIZE, weight="bold", color="#555555")
        self.record.groups[label] = list(keys)
        return frame

    def title(self, text: str, y: float):
        self.ax.text(self.ax.get_xlim()[1] / 2, y, text, ha="center", va="center", fontsize=FONT_SIZE + 1.5,
                     weight="bold")


def _centre(patch) -> tuple[float, float]:
    x, y, w, h = patch.get_x(), patch.get_y(), patch.get_width(), patch.get_height()
    return x + w / 2, y + h / 2


# --------------------------------------------------------------------------------------------- the methods
TWO_TOWER_METHODS = {
    "DCMH": {
        "title": "DCMH: pairwise likelihood, exact code update",
        "supervision": "labels\n" r"$S_{ij}=1$ if $i$, $j$ share a label",
        "loss": "pairwise likelihood\n"
                r"$\sigma(\Theta_{ij})$, $\Theta_{ij}=\frac{1}{2}\mathbf{F}_{i}^{\top}\mathbf{G}_{j}$"
                "\n+ quantization + bit balance",
        "bstep": "code update (exact)\n" r"$\mathbf{B}=\mathrm{sign}(\mathbf{F}+\mathbf{G})$",
        "sample": "a batch: $b$ items against all $n$ rows of the other buffer",
    },
    "CDHCR": {
        "title": "CDHCR: DCMH's loop with a Cauchy likelihood",
        "supervision": "labels\n" r"$S_{ij}$, class-balance weights $w_{ij}$",
        "loss": "Cauchy likelihood\n" r"$\gamma/(\gamma+\varphi_{ij})$, $\varphi$ = Hamming surrogate"
                "\n+ quantization (no balance term)",
        "bstep": "code update (exact)\n" r"$\mathbf{B}=\mathrm{sign}(\mathbf{F}+\mathbf{G})$",
        "sample": "a batch: $b$ items against all $n$ rows of the other buffer",
    },
    "TDH": {
        "title": "TDH: triplets and a label graph, relaxed code update",
        "supervision": "labels\n" r"triplets $(q, p, n)$ + graph $\mathbf{L}$",
        "loss": "triplet likelihood\n" r"$\sigma(\Theta_{qp}-\Theta_{qn}-\alpha)$, 4 terms"
                "\n+ quantization + balance",
        "bstep": "code update (relaxed)\n"
                 r"$\mathbf{B}=\mathrm{sign}(\mathbf{M}^{-1}(\mathbf{F}+\mathbf{G}))$"
                 "\n" r"$\mathbf{M}=2\mathbf{I}+\frac{\beta}{\gamma}\mathbf{L}$",
        "sample": "a batch: $M_1$ positives and $M_2$ negatives mined per anchor",
    },
}


def two_tower(method: str = "DCMH"):
    """The alternating loop of a two-network method: ``"DCMH"``, ``"CDHCR"`` or ``"TDH"``.

    Images and texts go through their own network into the buffers ``F`` and ``G`` (one row per training
    item). One epoch is (1) the closed-form code update of ``B``, (2) the text network's mini-batches,
    (3) the image network's. The loss box says how a relation between items becomes a probability; the
    supervision and update boxes say what the method feeds in and how ``B`` is set.
    """
    if method not in TWO_TOWER_METHODS:
        raise ValueError(f"method: expected one of {sorted(TWO_TOWER_METHODS)}, got {method!r}")
    spec = TWO_TOWER_METHODS[method]
    cv = _Canvas(f"two_tower:{method}", 10.0, 5.0)
    cv.title(spec["title"], 4.75)
    cv.box("images", 0.75, 3.8, "images\n$\\mathbf{X}$", "data")
    cv.box("texts", 0.75, 0.7, "texts\n$\\mathbf{Y}$", "data")
    cv.box("image_net", 2.5, 3.8, "image network\n$f(\\cdot\\,;\\theta_x)$", "net")
    cv.box("text_net", 2.5, 0.7, "text network\n$g(\\cdot\\,;\\theta_y)$", "net")
    cv.box("F", 4.75, 3.8, "buffer $\\mathbf{F}$, $n\\times c$\nlatest image outputs", "codes")
    cv.box("G", 4.75, 0.7, "buffer $\\mathbf{G}$, $n\\times c$\nlatest text outputs", "codes")
    cv.box("loss", 4.75, 2.25, spec["loss"], "loss")
    cv.box("supervision", 1.25, 2.25, spec["supervision"], "data")
    cv.box("bstep", 8.3, 2.25, "(1) " + spec["bstep"], "step")
    cv.arrow("images", "image_net")
    cv.arrow("texts", "text_net")
    cv.arrow("image_net", "F")
    cv.arrow("text_net", "G")
    cv.arrow("F", "loss")
    cv.arrow("G", "loss")
    cv.arrow("supervision", "loss")
    cv.arrow("F", "bstep")
    cv.arrow("G", "bstep")
    cv.arrow("bstep", "loss", "$\\mathbf{B}$")
    cv.arrow("loss", "image_net", "(3) image step", dashed=True, colour="#b03a2e", label_at=(2.75, 3.05))
    cv.arrow("loss", "text_net", "(2) text step", dashed=True, colour="#b03a2e", label_at=(2.75, 1.45))
    cv.ax.text(9.85, 0.1, spec["sample"], ha="right", va="bottom", fontsize=FONT_SIZE - 1, color="#555555")
    return cv.fig


def ugach_game():
    """UGACH: a correlation graph of nearest neighbours, a generator that selects items for a query, and a
    discriminator that scores them against the graph's manifold pairs; the discriminator's codes are kept."""
    cv = _Canvas("ugach_game", 10.0, 5.3)
    cv.title("UGACH: an adversarial game on a graph of neighbours (no labels)", 5.05)
    cv.box("features", 0.95, 2.35, "image and text\nfeatures\n(no labels)", "data")
    cv.box("graph", 3.0, 3.4, "correlation graph\n$k$ nearest neighbours\nin each modality", "step")
    cv.box("query", 3.0, 1.2, "query $q$\n(one modality)", "data")
    cv.box("manifold", 5.35, 3.4, "manifold pair $x^M$\n(a neighbour of $q$)", "codes")
    cv.box("generator", 5.35, 1.2, "generator $G_\\theta$\n"
           r"$p_\theta(x\,|\,q)\propto \exp(-\|\mathbf{h}_\theta(q)-\mathbf{h}_\theta(x)\|^2)$"
           "\nover a pool of the other modality", "net")
    cv.box("selected", 8.55, 1.2, "selected item $x^G$", "codes")
    cv.box("discriminator", 8.1, 3.4, "discriminator $D_\\phi$\n"
           r"$f_\phi=\max(0,\, m+d(q,x^M)-d(q,x^G))$", "net")
    cv.box("codes", 8.1, 4.5, "retrieval codes: " r"$\mathrm{sgn}(\mathbf{h}_\phi-0.5)$", "codes")
    cv.arrow("features", "graph")
    cv.arrow("features", "query")
    cv.arrow("graph", "manifold")
    cv.arrow("query", "generator")
    cv.arrow("generator", "selected", "sample", label_at=(7.35, 1.45))
    cv.arrow("selected", "discriminator")
    cv.arrow("manifold", "discriminator")
    cv.arrow("discriminator", "generator", "reward $r=\\mathrm{softplus}(f_\\phi)$\n(REINFORCE)",
             dashed=True, colour="#b03a2e", label_at=(5.8, 2.35))
    cv.arrow("discriminator", "codes", "kept", label_at=(8.45, 4.02))
    cv.ax.text(9.85, 0.1, "rounds: discriminator epochs, then generator epochs; the generator is discarded",
               ha="right", va="bottom", fontsize=FONT_SIZE - 1, color="#555555")
    return cv.fig


def daph_stages():
    """DAPH: stage 1 learns proxy codes from images, texts and labels together; stage 2 trains one hashing
    network per modality against the signed, fixed proxies (the two networks never see each other)."""
    cv = _Canvas("daph_stages", 10.0, 5.0)
    cv.title("DAPH: learn proxies first, then hash each modality against them", 4.8)
    # stage 1 (left)
    cv.box("images", 0.7, 3.75, "images", "data")
    cv.box("labels", 0.7, 2.4, "labels $\\mathbf{y}$", "data")
    cv.box("texts", 0.7, 1.05, "texts", "data")
    cv.box("lipg", 2.35, 3.75, "LIPG\nimage + label", "net")
    cv.box("cdpg", 2.35, 2.4, "CDPG\none-hot class", "net")
    cv.box("ltpg", 2.35, 1.05, "LTPG\ntext + label", "net")
    cv.box("proxies", 4.4, 2.4, "unit vectors\n$\\mathbf{V}$, $\\mathbf{C}$, $\\mathbf{T}$\n"
           "loss $\\mathcal{L}_D$:\n$\\mathcal{L}_1+\\mathcal{L}_2+\\mathcal{L}_3+\\mathcal{L}_{qtf}$", "loss")
    cv.arrow("images", "lipg")
    cv.arrow("labels", "lipg")
    cv.arrow("labels", "ltpg")
    cv.arrow("texts", "ltpg")
    cv.arrow("lipg", "proxies")
    cv.arrow("cdpg", "proxies")
    cv.arrow("ltpg", "proxies")
    # stage 2 (right): the signed proxies are stored once, before its first epoch
    cv.box("fixed", 6.3, 2.4, "signed, stored\n$\\mathbf{A}^v$, $\\mathbf{C}$, $\\mathbf{A}^t$\n(fixed)", "codes")
    cv.box("images2", 6.3, 3.85, "images", "data")
    cv.box("texts2", 6.3, 0.95, "texts", "data")
    cv.box("imhn", 8.8, 3.75, "IMHN\nimage hashing net\n$\\tanh$ outputs", "net")
    cv.box("tmhn", 8.8, 1.05, "TMHN\ntext hashing net\n$\\tanh$ outputs", "net")
    cv.box("ratio", 8.8, 2.4, "softmax-ratio loss\n$\\mathcal{L}^m$ per modality", "loss")
    cv.arrow("proxies", "fixed")
    cv.arrow("images2", "imhn")
    cv.arrow("texts2", "tmhn")
    cv.arrow("fixed", "ratio", "targets")
    cv.arrow("imhn", "ratio")
    cv.arrow("tmhn", "ratio")
    cv.group("Stage 1: proxy network", ["images", "labels", "texts", "lipg", "cdpg", "ltpg", "proxies"])
    cv.group("Stage 2: one network per modality", ["fixed", "images2", "texts2", "imhn", "tmhn", "ratio"],
             margin=0.15)
    cv.ax.text(9.85, 0.05, "the proxies are fixed in stage 2, so the image and text networks train independently",
               ha="right", va="bottom", fontsize=FONT_SIZE - 1, color="#555555")
    return cv.fig


def method_map():
    """How the five methods relate: DCMH in the centre, each arrow labelled with what the next method
    changes; the frame holds the three methods that share the alternating two-network loop."""
    cv = _Canvas("method_map", 10.0, 5.5)
    cv.title("The five methods: what each changes", 5.3)
    cv.box("DCMH", 2.2, 2.90, "DCMH\npairs of items\nsigmoid likelihood\n$\\mathbf{B}=\\mathrm{sign}(\\mathbf{F}+\\mathbf{G})$",
           "net", min_width=2.0)
    cv.box("CDHCR", 2.2, 1.05, "CDHCR\npairs, Cauchy likelihood\nsame loop", "net", min_width=2.0)
    cv.box("TDH", 5.2, 1.05, "TDH\ntriplets + label graph\nrelaxed code update", "net", min_width=2.0)
    cv.box("DAPH", 8.1, 2.90, "DAPH\nlearned proxy codes\ntwo stages, no $\\mathbf{B}$", "net", min_width=2.0)
    cv.box("UGACH", 5.2, 4.50, "UGACH\nno labels: a kNN graph\ngenerator vs discriminator", "net",
           min_width=2.0)
    cv.arrow("DCMH", "CDHCR", "likelihood:\nsigmoid $\\to$ Cauchy", label_at=(1.05, 2.00))
    cv.arrow("DCMH", "TDH", "pairs $\\to$ triplets;\nexact $\\to$ relaxed update", label_at=(4.95, 2.25))
    cv.arrow("DCMH", "DAPH", "relations $\\to$ fixed targets", label_at=(5.3, 2.90))
    cv.arrow("DCMH", "UGACH", "labels $\\to$ neighbours;\nloss $\\to$ game", label_at=(2.85, 4.15))
    cv.group("one alternating two-network loop", ["DCMH", "CDHCR", "TDH"], margin=0.15,
             label_side="bottom")
    return cv.fig
