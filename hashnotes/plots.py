"""The book's figures (matplotlib).

Every function takes an optional ``ax`` (or draws its own grid), returns the matplotlib
``Axes`` or ``Figure`` it drew on, and never calls ``plt.show()``. Images are ``(k, C, H, W)``
uint8 arrays (the package's layout); ``(k, H, W, C)`` and lists of such arrays are accepted too.

Engineers adding method-specific figures append them in a clearly headed section at the end.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "pr_curves",
    "precision_radius_curve",
    "training_curves",
    "show_pairs",
    "retrieval_gallery",
    "hamming_histogram",
    "sweep_curve",
    "heatmap",
    "table",
    "Table",
]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _new_ax(ax, figsize=(5, 4)):
    if ax is not None:
        return ax
    fig, ax = _plt().subplots(figsize=figsize)
    return ax


def _curve_arrays(curve, names: Sequence[str]) -> list[np.ndarray]:
    """Pull named arrays from a PRCurve-like object, a mapping or a tuple."""
    if isinstance(curve, Mapping):
        return [np.asarray(curve[n], dtype=float) for n in names]
    if all(hasattr(curve, n) for n in names):
        return [np.asarray(getattr(curve, n), dtype=float) for n in names]
    if isinstance(curve, (tuple, list)) and len(curve) >= len(names):
        return [np.asarray(c, dtype=float) for c in curve[: len(names)]]
    raise ValueError(f"curve: expected an object with attributes {names} (e.g. metrics.PRCurve), got {type(curve)!r}")


def _check_curves(curves, name="curves"):
    if not isinstance(curves, Mapping) or len(curves) == 0:
        raise ValueError(f"{name}: expected a non-empty dict {{label: curve}}, got {type(curves).__name__}")


def _curve_plot(curves: Mapping, x: str, y: str, xlabel: str, ylabel: str, ax, title, xlim=None):
    """One line per entry of ``curves`` (each with ``x`` and ``y`` arrays), shared axes styling."""
    _check_curves(curves)
    ax = _new_ax(ax)
    for label, curve in curves.items():
        xs, ys = _curve_arrays(curve, (x, y))
        if xs.shape != ys.shape:
            raise ValueError(f"curves[{label!r}]: {x} {xs.shape} and {y} {ys.shape} differ")
        ax.plot(xs, ys, marker="o", ms=3, label=str(label))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def pr_curves(curves: Mapping, ax=None, title: str | None = None):
    """Precision-recall curves of hash lookup (one line per entry).

    Parameters
    ----------
    curves : dict[str, PRCurve]
        Label -> curve with ``recall`` and ``precision`` arrays (``metrics.pr_curve``).
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    return _curve_plot(curves, "recall", "precision", "recall", "precision", ax, title, xlim=(-0.02, 1.02))


def precision_radius_curve(curves: Mapping, ax=None, title: str | None = None, ylabel: str = "precision"):
    """Precision as a function of the Hamming radius (one line per entry).

    Parameters
    ----------
    curves : dict[str, PRCurve or (radius, precision)]
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    return _curve_plot(curves, "radius", "precision", "Hamming radius r", ylabel, ax, title)


def training_curves(history: Sequence[Mapping], keys: Sequence[str] | None = None, ncols: int = 3):
    """One panel per ``loss/<term>`` key of a training history, plus one for validation mAP.

    Parameters
    ----------
    history : list of dict
        ``model.history``: one dict per epoch with ``epoch`` and ``loss/<term>`` keys and, when
        validation ran, ``val_map_i2t`` / ``val_map_t2i``.
    keys : list of str, optional
        Loss keys to draw (default: every ``loss/...`` key, in first-seen order).
    ncols : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(history, Sequence) or len(history) == 0:
        raise ValueError("history: expected a non-empty list of per-epoch dicts (model.history)")
    if not all(isinstance(h, Mapping) for h in history):
        raise ValueError("history: every entry must be a dict")
    if keys is None:
        keys = []
        for h in history:
            keys += [k for k in h if k.startswith("loss/") and k not in keys]
    else:
        keys = list(keys)
        missing = [k for k in keys if not any(k in h for h in history)]
        if missing:
            raise ValueError(f"keys: {missing} not found in history")
    val_keys = [k for k in ("val_map_i2t", "val_map_t2i") if any(k in h for h in history)]
    n_panels = len(keys) + (1 if val_keys else 0)
    if n_panels == 0:
        raise ValueError("history: no 'loss/<term>' or 'val_map_*' keys to plot")
    ncols = max(1, min(int(ncols), n_panels))
    nrows = -(-n_panels // ncols)
    plt = _plt()
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.8 * nrows), squeeze=False)
    epochs_all = np.array([h.get("epoch", i) for i, h in enumerate(history)], dtype=float)

    def series(k):
        ep = [e for e, h in zip(epochs_all, history) if k in h]
        return np.array(ep), np.array([h[k] for h in history if k in h], dtype=float)

    flat = axes.ravel()
    for ax, k in zip(flat, keys):
        ep, v = series(k)
        ax.plot(ep, v, marker=".")
        ax.set_title(k.removeprefix("loss/"), fontsize="medium")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    if val_keys:
        ax = flat[len(keys)]
        for k in val_keys:
            ep, v = series(k)
            ax.plot(ep, v, marker=".", label=k.removeprefix("val_map_").replace("2", "→").upper())
        ax.set_title("validation mAP", fontsize="medium")
        ax.set_xlabel("epoch")
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def _to_hwc(img) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 2:
        return a
    if a.ndim != 3:
        raise ValueError(f"images: each image must be (C,H,W), (H,W,C) or (H,W), got shape {a.shape}")
    if a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
        a = np.moveaxis(a, 0, -1)
    elif a.shape[0] in (1, 3, 4) and a.shape[-1] in (1, 3, 4) and a.shape[0] <= a.shape[-1]:
        a = np.moveaxis(a, 0, -1)  # ambiguous tiny image: the package layout is channels-first
    if a.shape[-1] == 1:
        a = a[..., 0]
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating) and np.nanmax(a) <= 1.0:
            a = np.clip(a * 255.0, 0, 255)
        a = np.clip(a, 0, 255).astype(np.uint8)
    return a


def _image_list(images, name="images") -> list[np.ndarray]:
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4):
            raise ValueError(f"{name}: expected (k,C,H,W) images, got shape {images.shape}")
        items = list(images)
    else:
        items = list(images)
    if len(items) == 0:
        raise ValueError(f"{name}: no images given")
    return [_to_hwc(im) for im in items]


def _grid(k: int, ncols: int, cell=(2.2, 2.6)):
    ncols = max(1, min(int(ncols), k))
    nrows = -(-k // ncols)
    fig, axes = _plt().subplots(nrows, ncols, figsize=(cell[0] * ncols, cell[1] * nrows), squeeze=False)
    return fig, axes.ravel()


def _wrap(text: str, width: int = 28, max_lines: int = 3) -> str:
    import textwrap

    lines = textwrap.wrap(str(text), width=width) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(0, width - 1)] + "…"
    return "\n".join(lines)


def show_pairs(images, captions: Sequence[str], labels: Sequence[str] | None = None, ncols: int = 4):
    """Image-text pairs in a grid: the picture, its tags below and (optionally) its labels as title.

    Parameters
    ----------
    images : uint8 array (k, C, H, W) or list of arrays
    captions : list of str
        The text side (tags) of each pair.
    labels : list of str, optional
        Label names of each pair, shown above the picture.
    ncols : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    imgs = _image_list(images)
    if len(captions) != len(imgs):
        raise ValueError(f"captions: got {len(captions)} for {len(imgs)} images")
    if labels is not None and len(labels) != len(imgs):
        raise ValueError(f"labels: got {len(labels)} for {len(imgs)} images")
    fig, axes = _grid(len(imgs), ncols, cell=(2.4, 3.4))
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= len(imgs):
            continue
        ax.imshow(imgs[i], cmap="gray" if imgs[i].ndim == 2 else None, interpolation="nearest")
        if labels is not None:
            ax.set_title(_wrap(labels[i], 26, 2), fontsize=8, color="tab:blue")
        ax.text(0.5, -0.04, _wrap(captions[i], 30, 3), transform=ax.transAxes, ha="center", va="top", fontsize=7)
    fig.tight_layout()
    return fig


def retrieval_gallery(query_caption: str, images, relevant, titles: Sequence[str] | None = None, ncols: int = 5):
    """Top retrieved images for a text query, framed green (relevant) or red (not relevant).

    Parameters
    ----------
    query_caption : str
    images : uint8 array (k, C, H, W) or list of arrays, in rank order
    relevant : bool array (k,)
    titles : list of str, optional
        Text under each image (e.g. rank and Hamming distance).
    ncols : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    imgs = _image_list(images)
    rel = np.asarray(relevant)
    if rel.shape != (len(imgs),):
        raise ValueError(f"relevant: expected shape ({len(imgs)},), got {rel.shape}")
    if rel.dtype != bool:
        if not np.isin(rel, (0, 1)).all():
            raise ValueError("relevant: must be boolean (or 0/1)")
        rel = rel.astype(bool)
    if titles is not None and len(titles) != len(imgs):
        raise ValueError(f"titles: got {len(titles)} for {len(imgs)} images")
    fig, axes = _grid(len(imgs), ncols, cell=(2.2, 2.5))
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(imgs):
            ax.axis("off")
            continue
        ax.imshow(imgs[i], cmap="gray" if imgs[i].ndim == 2 else None, interpolation="nearest")
        color = "tab:green" if rel[i] else "tab:red"
        for side in ax.spines.values():
            side.set_edgecolor(color)
            side.set_linewidth(4)
        if titles is not None:
            ax.set_xlabel(_wrap(titles[i], 26, 2), fontsize=7)
    fig.suptitle(f"query: {_wrap(query_caption, 80, 2)}   ({int(rel.sum())}/{len(rel)} relevant)", fontsize=9)
    fig.tight_layout()
    return fig


def hamming_histogram(distances, relevant=None, bits: int | None = None, ax=None, density: bool = False):
    """Histogram of Hamming distances, split into relevant and irrelevant pairs when given.

    Parameters
    ----------
    distances : int array (any shape)
        Hamming distances in ``0..bits``.
    relevant : bool array (same shape), optional
    bits : int, optional
        Code length (default: the largest distance).
    ax : matplotlib Axes, optional
    density : bool
        Normalise each group to sum to one.

    Returns
    -------
    matplotlib.axes.Axes
    """
    d = np.asarray(distances)
    if d.size == 0:
        raise ValueError("distances: empty")
    if not np.issubdtype(d.dtype, np.integer):
        if not np.all(np.isfinite(d)) or not np.all(d == np.round(d)):
            raise ValueError("distances: must be integer Hamming distances")
        d = d.astype(np.int64)
    if d.min() < 0:
        raise ValueError("distances: must be non-negative")
    c = int(d.max()) if bits is None else int(bits)
    if d.max() > c:
        raise ValueError(f"distances: values up to {int(d.max())} exceed bits={c}")
    ax = _new_ax(ax)
    x = np.arange(c + 1)
    if relevant is None:
        counts = np.bincount(d.ravel(), minlength=c + 1).astype(float)
        ax.bar(x, counts / counts.sum() if density else counts, width=0.9, color="tab:gray")
    else:
        r = np.asarray(relevant, dtype=bool)
        if r.shape != d.shape:
            raise ValueError(f"relevant: shape {r.shape} does not match distances {d.shape}")
        for offset, mask, label, color in ((-0.2, r, "relevant", "tab:green"), (0.2, ~r, "irrelevant", "tab:red")):
            counts = np.bincount(d[mask].ravel(), minlength=c + 1).astype(float)
            if density and counts.sum() > 0:
                counts = counts / counts.sum()
            ax.bar(x + offset, counts, width=0.4, color=color, label=label)
        ax.legend(fontsize="small")
    ax.set_xlabel("Hamming distance")
    ax.set_ylabel("fraction" if density else "pairs")
    ax.grid(alpha=0.3)
    return ax


def sweep_curve(x, series: Mapping, ax=None, xlabel: str = "bits", ylabel: str = "mAP",
                logx: bool = False, title: str | None = None):
    """Static sweep figure: one line per entry of ``series`` against ``x`` (e.g. mAP vs bits).

    Parameters
    ----------
    x : 1-D array
    series : dict[str, 1-D array]
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    xs = np.asarray(x, dtype=float)
    if xs.ndim != 1 or xs.size == 0:
        raise ValueError(f"x: expected a non-empty 1-D array, got shape {xs.shape}")
    _check_curves(series, "series")
    ax = _new_ax(ax)
    for label, y in series.items():
        y = np.asarray(y, dtype=float)
        if y.shape != xs.shape:
            raise ValueError(f"series[{label!r}]: shape {y.shape} does not match x {xs.shape}")
        ax.plot(xs, y, marker="o", label=str(label))
    if logx:
        ax.set_xscale("log", base=2 if xlabel == "bits" else 10)
    if xlabel == "bits":
        ax.set_xticks(xs)
        ax.set_xticklabels([str(int(v)) for v in xs])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def heatmap(matrix, row_labels: Sequence[str] | None = None, col_labels: Sequence[str] | None = None,
            ax=None, title: str | None = None, cmap: str = "viridis", log: bool = False):
    """A labelled matrix heat map (e.g. label co-occurrence counts).

    Parameters
    ----------
    matrix : 2-D array
    row_labels, col_labels : list of str, optional
    log : bool
        Colour by log(1 + value).

    Returns
    -------
    matplotlib.axes.Axes
    """
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2:
        raise ValueError(f"matrix: expected 2-D, got shape {m.shape}")
    if row_labels is not None and len(row_labels) != m.shape[0]:
        raise ValueError(f"row_labels: got {len(row_labels)} for {m.shape[0]} rows")
    if col_labels is not None and len(col_labels) != m.shape[1]:
        raise ValueError(f"col_labels: got {len(col_labels)} for {m.shape[1]} columns")
    ax = _new_ax(ax, figsize=(0.28 * m.shape[1] + 2.5, 0.28 * m.shape[0] + 1.5))
    shown = np.log1p(np.maximum(m, 0)) if log else m
    im = ax.imshow(shown, cmap=cmap, aspect="auto", interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="log(1+count)" if log else None)
    if row_labels is not None:
        ax.set_yticks(range(m.shape[0]))
        ax.set_yticklabels(row_labels, fontsize=7)
    if col_labels is not None:
        ax.set_xticks(range(m.shape[1]))
        ax.set_xticklabels(col_labels, fontsize=7, rotation=90)
    if title:
        ax.set_title(title)
    return ax


def _format_cell(value, fmt) -> str:
    if callable(fmt):
        return str(fmt(value))
    if fmt is not None:
        return format(value, fmt)
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return "nan" if np.isnan(value) else f"{float(value):.4f}"
    return str(value)


class Table:
    """A results table: an HTML ``<table>`` in notebooks and the built book, aligned text elsewhere.

    Build it with :func:`table`. ``rows`` keeps the raw values (for asserts), ``cells`` the formatted strings.
    """

    def __init__(self, rows, columns, formats=None, caption: str | None = None):
        self.columns = [str(c) for c in columns]
        if not self.columns:
            raise ValueError("columns: give at least one column name")
        self.rows = [list(r) for r in rows]
        for i, r in enumerate(self.rows):
            if len(r) != len(self.columns):
                raise ValueError(f"rows[{i}]: {len(r)} values for {len(self.columns)} columns")
        if formats is None:
            formats = [None] * len(self.columns)
        elif isinstance(formats, Mapping):
            unknown = sorted(set(formats) - set(self.columns))
            if unknown:
                raise ValueError(f"formats: {unknown} are not columns {self.columns}")
            formats = [formats.get(c) for c in self.columns]
        elif len(formats) != len(self.columns):
            raise ValueError(f"formats: {len(formats)} formats for {len(self.columns)} columns")
        self.formats = list(formats)
        self.caption = caption
        self.cells = [[_format_cell(v, f) for v, f in zip(r, self.formats)] for r in self.rows]

    def _numeric(self, j: int) -> bool:
        return all(isinstance(r[j], (int, float, np.integer, np.floating)) and not isinstance(r[j], bool)
                   for r in self.rows) and bool(self.rows)

    def __repr__(self) -> str:
        widths = [max([len(c)] + [len(r[j]) for r in self.cells]) for j, c in enumerate(self.columns)]
        just = [(str.rjust if self._numeric(j) else str.ljust) for j in range(len(self.columns))]
        lines = [self.caption] if self.caption else []
        lines.append("  ".join(f(c, w) for f, c, w in zip(just, self.columns, widths)))
        lines += ["  ".join(f(v, w) for f, v, w in zip(just, r, widths)) for r in self.cells]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        align = ["right" if self._numeric(j) else "left" for j in range(len(self.columns))]
        head = "".join(f'<th style="text-align:{a}">{escape(c)}</th>' for c, a in zip(self.columns, align))
        body = "".join("<tr>" + "".join(f'<td style="text-align:{a}">{escape(v)}</td>' for v, a in zip(r, align))
                       + "</tr>" for r in self.cells)
        cap = f"<caption>{escape(self.caption)}</caption>" if self.caption else ""
        return (f'<table class="table hn-table">{cap}<thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>")


def table(rows, columns, formats=None, caption: str | None = None) -> Table:
    """A results table for a notebook cell (the cell's last expression displays it).

    Parameters
    ----------
    rows : sequence of sequences
        One sequence of values per row.
    columns : sequence of str
        Column headers.
    formats : sequence or dict, optional
        Per column, a format spec (``".3f"``), a callable, or None for the default
        (ints with thousands separators, floats with 4 decimals, anything else ``str``).
    caption : str, optional

    Returns
    -------
    Table
        Rendered as an HTML table in Jupyter and the book (never as raw markdown text).
    """
    return Table(rows, columns, formats, caption)


# ---------------------------------------------------------------------------------------------
# Method-specific figures (engineers 4-6): append below in sections headed "# === <method> ===".
# ---------------------------------------------------------------------------------------------
