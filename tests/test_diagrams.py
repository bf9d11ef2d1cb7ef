"""hashnotes.diagrams: every method diagram builds, has its labelled boxes and arrows, and is legible (no two
boxes overlap, every label sits inside its box, nothing leaves the figure, arrow labels cover no box)."""
from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from hashnotes import diagrams  # noqa: E402

# name: (builder, {box key: words its label must contain}, arrows that must be drawn)
EXPECTED = {
    "DCMH": (lambda: diagrams.two_tower("DCMH"),
             {"images": ["images"], "texts": ["texts"], "image_net": ["image network"],
              "text_net": ["text network"], "F": ["buffer", "mathbf{F}"], "G": ["buffer", "mathbf{G}"],
              "loss": ["pairwise likelihood", "sigma", "bit balance"], "supervision": ["labels", "S_{ij}"],
              "bstep": ["(1)", "exact", r"\mathrm{sign}(\mathbf{F}+\mathbf{G})"]},
             {("images", "image_net"), ("image_net", "F"), ("texts", "text_net"), ("text_net", "G"),
              ("F", "loss"), ("G", "loss"), ("F", "bstep"), ("G", "bstep"), ("bstep", "loss"),
              ("supervision", "loss"), ("loss", "image_net"), ("loss", "text_net")}),
    "CDHCR": (lambda: diagrams.two_tower("CDHCR"),
              {"loss": ["Cauchy likelihood", r"\gamma/(\gamma+\varphi_{ij})", "no balance"],
               "supervision": ["class-balance weights"], "bstep": ["exact", r"\mathrm{sign}(\mathbf{F}+\mathbf{G})"]},
              {("bstep", "loss"), ("loss", "text_net"), ("loss", "image_net")}),
    "TDH": (lambda: diagrams.two_tower("TDH"),
            {"loss": ["triplet likelihood", r"\Theta_{qp}-\Theta_{qn}-\alpha", "4 terms"],
             "supervision": ["triplets", r"\mathbf{L}"], "bstep": ["relaxed", r"\mathbf{M}^{-1}", r"\frac{\beta}{\gamma}"]},
            {("F", "bstep"), ("G", "bstep"), ("bstep", "loss")}),
    "UGACH": (diagrams.ugach_game,
              {"features": ["no labels"], "graph": ["correlation graph", "nearest neighbours"],
               "query": ["query"], "manifold": ["manifold pair", "x^M"], "generator": ["generator", r"p_\theta"],
               "selected": ["x^G"], "discriminator": ["discriminator", r"\max(0"], "codes": ["retrieval codes"]},
              {("features", "graph"), ("graph", "manifold"), ("query", "generator"), ("generator", "selected"),
               ("selected", "discriminator"), ("manifold", "discriminator"), ("discriminator", "generator"),
               ("discriminator", "codes")}),
    "DAPH": (diagrams.daph_stages,
             {"lipg": ["LIPG"], "ltpg": ["LTPG"], "cdpg": ["CDPG"], "proxies": [r"\mathcal{L}_D", r"\mathcal{L}_{qtf}"],
              "fixed": ["fixed"], "imhn": ["IMHN"], "tmhn": ["TMHN"], "ratio": ["softmax-ratio", r"\mathcal{L}^m"]},
             {("images", "lipg"), ("labels", "lipg"), ("labels", "ltpg"), ("texts", "ltpg"), ("lipg", "proxies"),
              ("ltpg", "proxies"), ("cdpg", "proxies"), ("proxies", "fixed"), ("fixed", "ratio"),
              ("imhn", "ratio"), ("tmhn", "ratio")}),
    "map": (diagrams.method_map,
            {"DCMH": ["DCMH", "sigmoid"], "CDHCR": ["Cauchy"], "TDH": ["triplets"], "UGACH": ["no labels"],
             "DAPH": ["proxy"]},
            {("DCMH", "CDHCR"), ("DCMH", "TDH"), ("DCMH", "DAPH"), ("DCMH", "UGACH")}),
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_diagram_has_its_labelled_boxes_and_arrows(name):
    build, words, arrows = EXPECTED[name]
    fig = build()
    record = diagrams.diagram_of(fig)
    labels = record.labels()
    for key, needed in words.items():
        assert key in labels, f"{name}: no box {key!r} (boxes: {sorted(labels)})"
        for w in needed:
            assert w in labels[key], f"{name}: box {key!r} says {labels[key]!r}, without {w!r}"
        assert record.boxes[key].text.get_text() == labels[key]       # the label is what is drawn
    assert arrows <= record.edges(), f"{name}: missing arrows {sorted(arrows - record.edges())}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_diagram_is_legible(name, tmp_path):
    fig = EXPECTED[name][0]()
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=80)      # draws every artist
    assert path.stat().st_size > 5_000
    renderer = fig.canvas.get_renderer()
    record = diagrams.diagram_of(fig)
    boxes = {k: b.patch.get_window_extent(renderer) for k, b in record.boxes.items()}
    for (ka, a), (kb, b) in itertools.combinations(boxes.items(), 2):
        assert not a.overlaps(b), f"{name}: boxes {ka!r} and {kb!r} overlap"
    page = fig.bbox
    for key, box in record.boxes.items():
        text = box.text.get_window_extent(renderer)
        assert boxes[key].x0 <= text.x0 and text.x1 <= boxes[key].x1, f"{name}: label of {key!r} is wider than its box"
        assert boxes[key].y0 <= text.y0 and text.y1 <= boxes[key].y1, f"{name}: label of {key!r} is taller than its box"
        assert page.x0 <= boxes[key].x0 and boxes[key].x1 <= page.x1 and page.y0 <= boxes[key].y0 \
            and boxes[key].y1 <= page.y1, f"{name}: box {key!r} leaves the figure"
    for t in fig.axes[0].texts:
        e = t.get_window_extent(renderer)
        assert page.x0 <= e.x0 and e.x1 <= page.x1 and page.y0 <= e.y0 and e.y1 <= page.y1, \
            f"{name}: text {t.get_text()!r} leaves the figure"
    for arrow in record.arrows:
        if arrow.text is None:
            continue
        e = arrow.text.get_window_extent(renderer)
        hit = [k for k, b in boxes.items() if e.overlaps(b)]
        assert not hit, f"{name}: the label {arrow.label!r} of {arrow.source}->{arrow.target} covers box {hit}"


def test_two_tower_names_the_method_it_draws():
    titles = {m: diagrams.two_tower(m).axes[0].texts[0].get_text() for m in diagrams.TWO_TOWER_METHODS}
    assert all(t.startswith(m + ":") for m, t in titles.items())
    assert len(set(titles.values())) == len(titles)


def test_bad_input_is_refused_by_name():
    with pytest.raises(ValueError, match="method: expected one of .*'UGACH'"):
        diagrams.two_tower("UGACH")
    with pytest.raises(ValueError, match="not a figure drawn by hashnotes.diagrams"):
        diagrams.diagram_of(plt.figure())
