"""Figure conventions that :mod:`~assen_demand.outputs.plots` and :mod:`~assen_demand.outputs.voorzieningen` share.

The A4 width, Dutch number notation on the axes, new figures and axes with a constrained layout,
and the source footnote. matplotlib is imported inside the functions that draw: the package imports
without it (it is needed only for figures).
"""

from __future__ import annotations

from pathlib import Path

from assen_demand.outputs.labels import SOURCE_NOTE

__all__ = ["A4_WIDTH", "nl_number", "tick_label", "new_axes", "new_figure", "add_source_note", "save_png",
           "PNG_COMPRESS_LEVEL"]

#: Width of an A4 page [inches]; figures are at most this wide so text stays readable in print.
A4_WIDTH = 8.27


def nl_number(x: float, decimals: int = 0) -> str:
    """A number in Dutch notation: 12.345 (thousands) and 1,5 (decimals)."""
    text = f"{x:,.{decimals}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def tick_label(x: float, _pos=None) -> str:
    """Axis tick in Dutch notation; decimals only when the tick is not a whole number (2,5)."""
    return nl_number(x, 0 if float(x).is_integer() else 1)


def new_axes(ax, figsize):
    """``ax`` itself, or new axes of ``figsize`` (width, height) [inches] with a constrained layout."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def new_figure(fig, figsize):
    """``fig`` resized to ``figsize`` (width, height) [inches], or a new figure with a constrained layout."""
    if fig is not None:
        fig.set_size_inches(*figsize)
        return fig
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize, layout="constrained")


def add_source_note(fig, text: str = SOURCE_NOTE):
    """Write the source footnote in the bottom left corner of a figure.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    text : str
        Default :data:`assen_demand.outputs.labels.SOURCE_NOTE`.

    Returns
    -------
    matplotlib.text.Text
    """
    engine = fig.get_layout_engine()
    bottom = 0.22 / fig.get_figheight()  # room for one line of 7-point text
    if engine is not None and hasattr(engine, "set") and "rect" in engine.get():
        engine.set(rect=(0, bottom, 1, 1 - bottom))  # (left, bottom, width, height)
    return fig.text(0.01, 0.2 * bottom, text, ha="left", va="bottom", fontsize=7, color="0.35")


#: zlib level of the PNG files: 1 packs these flat-colour charts about as well as the default 6
#: (a few % larger) in a fifth of the time, a fifth of the time of rendering a figure (issue 20)
PNG_COMPRESS_LEVEL = 1


def save_png(fig, path, dpi: int) -> Path:
    """Save a figure as PNG the way :meth:`matplotlib.figure.Figure.savefig` does, drawing it once.

    ``savefig`` of a figure with a layout engine draws the figure twice: once with drawing
    switched off to run the layout, then for real. Here the layout runs on the renderer of the
    final resolution and ``savefig`` then draws only once, with the layout engine switched off
    for that draw as ``savefig`` itself does: the same pixels, about a quarter less time.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : path
    dpi : int [dots per inch]

    Returns
    -------
    pathlib.Path
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    engine = fig.get_layout_engine()
    if engine is None:
        fig.savefig(path, dpi=dpi, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
        return path
    canvas = FigureCanvasAgg(fig)
    original_dpi = fig.dpi
    fig.dpi = dpi
    try:
        engine.execute(fig)  # on canvas.get_renderer() at the final dpi, as savefig's first draw
    finally:
        fig.dpi = original_dpi
    fig.set_layout_engine("none")
    try:
        canvas.print_figure(path, dpi=dpi, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    finally:
        fig.set_layout_engine(engine)
    return path
