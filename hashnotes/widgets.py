"""ipywidgets panels that re-run a small fit and redraw.

Panels are built on ``ipywidgets.interact_manual``: creating one draws the controls and a
"Run" button but calls nothing, so a notebook cell that creates a panel is cheap and safe to
execute headless (the book's build and ``pytest --nbmake``). The work happens on a click, in a
live kernel. The rendered book shows the chapter's static sweep figure instead.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["retrain_panel", "log_slider", "gamma_slider", "eta_slider", "bits_dropdown", "int_slider",
           "float_slider"]

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


def retrain_panel(run: Callable[..., None], button: str = "Run", **sliders):
    """Controls plus a button that calls ``run(**values)`` only when clicked.

    Parameters
    ----------
    run : callable
        Called with one keyword per slider; it should fit a small model and draw (its output is
        shown below the controls). Nothing is called when the panel is created.
    button : str
        Text of the button.
    **sliders
        ``name=widget`` (e.g. ``gamma=gamma_slider()``, ``bits=bits_dropdown()``) or any
        ``interact`` abbreviation; names must be parameters of ``run``.

    Returns
    -------
    ipywidgets.interactive
        The displayed panel (``.children`` holds the controls, the button and the output).
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
    decorated = ipw.interact_manual.options(manual_name=button)(run, **sliders)
    return decorated.widget
