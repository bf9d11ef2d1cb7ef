"""ipywidgets panels that re-run a small fit and redraw.

Panels are built on ``ipywidgets.interact_manual``: creating one draws the controls and a
"Run" button but calls nothing, so a notebook cell that creates a panel is cheap and safe to
execute headless (the book's build and ``pytest --nbmake``). The work happens on a click, in a
live kernel. Every panel is preceded by a short note (``LIVE_NOTE``, HTML class ``hn-live-note``) saying so,
because on the static web page the controls are drawn but nothing answers them; the chapter's static
figure stands in for the panel there.

Two helpers for the chapters' execution in the book build: :func:`live` is False while ``make.py`` executes
the chapters (no progress bars in the built pages), and :func:`glue` records a value for the prose
(myst-nb's ``glue``; a no-op where myst-nb is not installed, e.g. in Colab).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence

__all__ = ["retrain_panel", "log_slider", "gamma_slider", "eta_slider", "bits_dropdown", "int_slider",
           "float_slider", "live", "glue", "live_note", "LIVE_NOTE", "BUILD_ENV_FLAG"]

#: Set to "1" by ``make.py`` while it executes the chapters for the built pages.
BUILD_ENV_FLAG = "HASHNOTES_BOOK_BUILD"

#: The note shown above every panel (the static page draws the controls, but nothing answers them).
LIVE_NOTE = ("<b>Live panel.</b> This panel runs only in a live kernel (Jupyter, or Colab through the launch "
             "button at the top of the page): choose values and press the button. On the static web page the "
             "controls do nothing; {static}")
_DEFAULT_STATIC = "the figures and tables on this page were computed by the same code when the book was built."


def _quiet_collapse_warnings_in_the_build() -> None:
    """While ``make.py`` executes the chapters, the collapse guard's warnings are not printed: a chapter that
    trains a model that collapses (a demonstration of a failure, a sweep) reports it in its own tables through
    ``evaluate()["collapsed"]``, and a warning on stderr would be build noise on the page. A reader's kernel
    keeps the warnings."""
    if os.environ.get(BUILD_ENV_FLAG, "") == "1":
        import warnings

        from .codes import CodeCollapseWarning

        warnings.filterwarnings("ignore", category=CodeCollapseWarning)


_quiet_collapse_warnings_in_the_build()


def live() -> bool:
    """True in a reader's kernel; False while ``make.py`` executes the chapters for the built pages.

    Chapters pass it as ``progress=widgets.live()`` (and ``disable=not widgets.live()`` to ``tqdm``), so a
    reader running a cell sees a progress bar and the built page shows none.
    """
    return os.environ.get(BUILD_ENV_FLAG, "") != "1"


def glue(name: str, value) -> None:
    """Record ``value`` under ``name`` for ``{glue:text}`name``` in the chapter's prose.

    Uses myst-nb's ``glue`` (hidden output, pasted where the prose refers to it); does nothing where
    myst-nb is not installed (a reader's Colab kernel). Glue numbers (not formatted strings) and format
    them in the prose, e.g. ``{glue:text}`dcmh_map_i2t:.3f```; a number and its formatting stay one value.
    A ``str`` (a word the prose depends on, such as which method leads) is pasted without quotes; paste it
    with ``{glue:md}`` when it holds markdown. NumPy scalars are glued as plain Python numbers. Returns None,
    so a cell that ends with a glue call shows nothing.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name: expected an identifier-like string, got {name!r}")
    if hasattr(value, "item") and getattr(value, "shape", None) == ():   # numpy scalars: glue the plain number
        value = value.item()
    shown = _Text(value) if isinstance(value, str) else value
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return None
    _glue(name, shown, display=False)
    return None


class _Text:
    """A glued word or phrase: pasted as itself (a plain ``str`` would be pasted with its quotes)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_markdown_(self) -> str:   # for {glue:md}, when the phrase holds markdown (e.g. *emphasis*)
        return self.text


def live_note(static: str | None = None):
    """The note displayed above a panel, as an ``IPython.display.HTML`` object (class ``hn-live-note``)."""
    from html import escape

    from IPython.display import HTML

    text = LIVE_NOTE.format(static=escape(static) if static else _DEFAULT_STATIC)
    style = ("border-left:4px solid #6c757d;background:rgba(108,117,125,.08);padding:.4em .8em;"
             "margin:.3em 0;font-size:90%")
    return HTML(f'<div class="hn-live-note" style="{style}">{text}</div>')

SUPPORTED_BITS = (16, 32, 64)


def _widgets():
    import ipywidgets

    return ipywidgets


def log_slider(description: str, value: float, min_exp: float = -3.0, max_exp: float = 2.0,
               step: float = 0.25, base: float = 10.0):
    """A log-scale float slider from ``base**min_exp`` to ``base**max_exp``.

    Parameters
    ----------
    description : str
        Label shown next to the slider.
    value : float
        Initial value (> 0, inside the range).
    min_exp, max_exp, step : float
        Exponent range and step.

    Returns
    -------
    ipywidgets.FloatLogSlider
    """
    if not min_exp < max_exp:
        raise ValueError(f"min_exp, max_exp: need min_exp < max_exp, got {min_exp}, {max_exp}")
    if not step > 0:
        raise ValueError(f"step: must be > 0, got {step}")
    if not (isinstance(value, (int, float)) and value > 0):
        raise ValueError(f"value: must be a positive number, got {value!r}")
    if not base ** min_exp <= value <= base ** max_exp:
        raise ValueError(f"value: {value} is outside [{base ** min_exp:g}, {base ** max_exp:g}]")
    return _widgets().FloatLogSlider(value=float(value), base=base, min=min_exp, max=max_exp, step=step,
                                     description=description, continuous_update=False, readout_format=".3g")


def gamma_slider(value: float = 1.0, min_exp: float = -3.0, max_exp: float = 2.0):
    """Log slider for the quantization weight gamma."""
    return log_slider("gamma", value, min_exp, max_exp)


def eta_slider(value: float = 1.0, min_exp: float = -3.0, max_exp: float = 2.0):
    """Log slider for the bit-balance weight eta."""
    return log_slider("eta", value, min_exp, max_exp)


def bits_dropdown(value: int = 32, options: Sequence[int] = SUPPORTED_BITS, description: str = "bits"):
    """Dropdown for the code length.

    Parameters
    ----------
    value : int
        Initial choice, one of ``options``.
    options : sequence of int
        Default (16, 32, 64).

    Returns
    -------
    ipywidgets.Dropdown
    """
    opts = [int(o) for o in options]
    if not opts or any(o < 1 for o in opts):
        raise ValueError(f"options: expected positive code lengths, got {list(options)}")
    if int(value) not in opts:
        raise ValueError(f"value: {value} is not one of the options {opts}")
    return _widgets().Dropdown(options=opts, value=int(value), description=description)


def int_slider(description: str, value: int, min: int, max: int, step: int = 1):
    """An integer slider (e.g. epochs, training-set size)."""
    if not min <= value <= max:
        raise ValueError(f"value: {value} is outside [{min}, {max}]")
    return _widgets().IntSlider(value=value, min=min, max=max, step=step, description=description,
                                continuous_update=False)


def float_slider(description: str, value: float, min: float, max: float, step: float = 0.05):
    """A linear float slider (e.g. a probability)."""
    if not min <= value <= max:
        raise ValueError(f"value: {value} is outside [{min}, {max}]")
    if not step > 0:
        raise ValueError(f"step: must be > 0, got {step}")
    return _widgets().FloatSlider(value=value, min=min, max=max, step=step, description=description,
                                  continuous_update=False)


def retrain_panel(run: Callable[..., None], button: str = "Run", static: str | None = None, **sliders):
    """Controls plus a button that calls ``run(**values)`` only when clicked.

    Parameters
    ----------
    run : callable
        Called with one keyword per slider; it should fit a small model and draw (its output is
        shown below the controls). Nothing is called when the panel is created.
    button : str
        Text of the button.
    static : str, optional
        Where the static page shows the panel's results instead (e.g. "Figure 4.3 shows the same sweep,
        precomputed."); appended to the live-kernel note displayed above the panel.
    **sliders
        ``name=widget`` (e.g. ``gamma=gamma_slider()``, ``bits=bits_dropdown()``) or any
        ``interact`` abbreviation; names must be parameters of ``run``.

    Returns
    -------
    ipywidgets.interactive
        The displayed panel (``.children`` holds the controls, the button and the output). It is already
        displayed: assign it (``panel = retrain_panel(...)``) so the cell does not display it a second time.
    """
    import inspect

    if not callable(run):
        raise ValueError(f"run: expected a callable, got {type(run).__name__}")
    if not sliders:
        raise ValueError("sliders: give at least one control, e.g. bits=bits_dropdown()")
    try:
        params = inspect.signature(run).parameters
    except (TypeError, ValueError):
        params = None
    if params is not None and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(sliders) - set(params))
        if unknown:
            raise ValueError(f"sliders: {unknown} are not parameters of run{tuple(params)}")
    ipw = _widgets()
    from IPython.display import display

    display(live_note(static))
    decorated = ipw.interact_manual.options(manual_name=button)(run, **sliders)
    return decorated.widget
