"""What a reader cannot see in a matplotlib figure: tick labels that overlap, a legend drawn over the data, a
line hidden under another.

:func:`figure_problems` draws a figure (Agg) and returns ``(kind, detail)`` pairs:

* ``tick-overlap``: two visible, non-empty tick labels of one axis whose boxes overlap;
* ``legend-over-data``: a legend box that a plotted line passes through (points sampled along each segment);
* ``hidden-line``: a line whose whole path lies within a couple of pixels of a line drawn above it, where the
  upper line is solid, at least as wide and carries no different marker, so nothing of the lower one shows.

:func:`install` makes ``matplotlib.pyplot.show`` raise :class:`FigureProblem` for such a figure before showing it
(a book build calls it; a reader's kernel never does).
"""
from __future__ import annotations

import numpy as np

__all__ = ["figure_problems", "FigureProblem", "install"]


class FigureProblem(AssertionError):
    """A figure shows something a reader cannot read."""


def _renderer(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _overlap(a, b, pad: float = 0.5) -> bool:
    return a.x0 < b.x1 - pad and b.x0 < a.x1 - pad and a.y0 < b.y1 - pad and b.y0 < a.y1 - pad


def _tick_problems(ax, renderer) -> list:
    out = []
    for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text().strip()]
        view = ax.get_window_extent(renderer)
        boxes = []
        for t in labels:
            box = t.get_window_extent(renderer)
            # tick labels outside the axes' span are not drawn
            span = (box.x0 + box.x1) / 2 if name == "x" else (box.y0 + box.y1) / 2
            lo, hi = (view.x0, view.x1) if name == "x" else (view.y0, view.y1)
            if lo - 1 <= span <= hi + 1:
                boxes.append((t.get_text(), box))
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                if _overlap(boxes[i][1], boxes[j][1]):
                    out.append(("tick-overlap", f"{_title(ax)}: {name} tick labels {boxes[i][0]!r} and "
                                                f"{boxes[j][0]!r} overlap"))
    return out


def _title(ax) -> str:
    return repr(ax.get_title()) if ax.get_title() else f"axes at {tuple(round(float(v), 2) for v in ax.get_position().bounds)}"


def _pixels(line, samples: int = 20) -> np.ndarray:
    """Display coordinates of a line, with ``samples`` points along each segment."""
    xy = np.column_stack([np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)])
    xy = xy[np.isfinite(xy).all(1)]
    if len(xy) == 0:
        return np.zeros((0, 2))
    pts = line.get_transform().transform(xy)
    if len(pts) == 1:
        return pts
    t = np.linspace(0, 1, samples, endpoint=False)[:, None, None]
    seg = pts[:-1][None] + t * (pts[1:] - pts[:-1])[None]
    return np.concatenate([seg.reshape(-1, 2), pts[-1:]])


def _data_lines(ax) -> list:
    """Lines plotted in data coordinates (reference lines such as axhline/axvline, which span the axes, are not)."""
    return [ln for ln in ax.get_lines() if ln.get_visible() and len(np.atleast_1d(ln.get_xdata())) > 0
            and ln.get_transform() == ax.transData]


def _legend_problems(ax, renderer) -> list:
    leg = ax.get_legend()
    if leg is None or not leg.get_visible():
        return []
    box = leg.get_window_extent(renderer)
    out = []
    for ln in _data_lines(ax):
        p = _pixels(ln)
        inside = (p[:, 0] > box.x0) & (p[:, 0] < box.x1) & (p[:, 1] > box.y0) & (p[:, 1] < box.y1)
        if inside.any():
            out.append(("legend-over-data", f"{_title(ax)}: the legend covers the line {ln.get_label()!r}"))
    return out


def _distance_to_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """For each point, its distance to the polyline through ``line``'s vertices."""
    if len(line) == 1:
        return np.linalg.norm(points - line[0], axis=1)
    a, b = line[:-1], line[1:]
    ab = b - a
    denom = np.maximum((ab ** 2).sum(1), 1e-12)
    t = np.clip(((points[:, None, :] - a[None]) * ab[None]).sum(2) / denom[None], 0, 1)
    proj = a[None] + t[..., None] * ab[None]
    return np.linalg.norm(points[:, None, :] - proj, axis=2).min(1)


def _hidden_problems(ax) -> list:
    lines = sorted(_data_lines(ax), key=lambda ln: ln.get_zorder())   # stable: later-drawn lines come later
    out = []
    for i, low in enumerate(lines):
        for high in lines[i + 1:]:
            if high.get_linestyle() not in ("-", "solid") or high.get_linewidth() < low.get_linewidth():
                continue
            if low.get_marker() not in (None, "None", "", " ", high.get_marker()):
                continue
            p_low = _pixels(low)
            if len(p_low) == 0:
                continue
            verts = high.get_transform().transform(
                np.column_stack([np.asarray(high.get_xdata(), float), np.asarray(high.get_ydata(), float)]))
            tol = 1.0 + high.get_linewidth() / 2
            if (_distance_to_polyline(p_low, verts) <= tol).all():
                out.append(("hidden-line", f"{_title(ax)}: the line {low.get_label()!r} is hidden under "
                                           f"{high.get_label()!r}"))
                break
    return out


def figure_problems(fig) -> list[tuple[str, str]]:
    """The problems of one figure (drawn here with its own canvas); empty when a reader can read it all."""
    renderer = _renderer(fig)
    out = []
    for ax in fig.get_axes():
        if not ax.get_visible():
            continue
        out += _tick_problems(ax, renderer) + _legend_problems(ax, renderer) + _hidden_problems(ax)
    return out


def install() -> None:
    """Check every open figure when ``matplotlib.pyplot.show`` is called; raise :class:`FigureProblem` if one
    has problems (for a book build: a figure a reader cannot read fails the chapter)."""
    import matplotlib.pyplot as plt

    if getattr(plt.show, "_hashnotes_checked", False):
        return
    original = plt.show

    def show(*args, **kwargs):
        problems = [p for num in plt.get_fignums() for p in figure_problems(plt.figure(num))]
        if problems:
            raise FigureProblem("a figure a reader cannot read:\n  " + "\n  ".join(f"[{k}] {d}" for k, d in problems))
        return original(*args, **kwargs)

    show._hashnotes_checked = True
    plt.show = show
