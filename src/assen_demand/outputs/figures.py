"""Figure conventions that :mod:`~assen_demand.outputs.plots` and :mod:`~assen_demand.outputs.voorzieningen` share.

The A4 width, Dutch number notation on the axes, new figures and axes with a constrained layout,
and the source footnote. matplotlib is imported inside the functions that draw: the package imports
without it (it is needed only for figures).
"""

from __future__ import annotations

from pathlib import Path

from assen_demand.outputs.labels import SOURCE_NOTE

__all__ = ["A4_WIDTH", "nl_number", "tick_label", "new_axes", "new_figure", "add_source_note", "set_title",
           "rectangles", "save_png", "write_png", "PNG_COMPRESS_LEVEL"]

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


def set_title(ax, label: str, **kwargs):
    """``ax.set_title(label, **kwargs)`` at the height where matplotlib's automatic placement puts it.

    With ``rcParams["axes.titley"]`` None (the default) matplotlib places an axes title at the
    top of the axes (``y`` 1.0) and moves it up only above what is drawn there: x tick labels or
    an x label on top, an offset text of the y axis (``1e6``), twinned or child axes. Finding
    that out measures every tick label of the y axis at each layout pass and again at the draw,
    about a tenth of the time of a figure (issue 20). Call this once the axes are complete:
    where none of those can be above them the title is set at 1.0 (the same pixels, without
    the measuring); otherwise the placement stays automatic.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    label : str
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.set_title` (``fontsize``...).

    Returns
    -------
    matplotlib.text.Text
    """
    import matplotlib as mpl
    from matplotlib.ticker import ScalarFormatter

    fixed = (
        "y" not in kwargs
        and mpl.rcParams["axes.titley"] is None
        # no x tick labels on top (hidden ones, as on inner panels of a shared x axis, do not count)
        and not any(tick.label2.get_visible() for tick in (ax.xaxis.majorTicks[0], ax.xaxis.minorTicks[0]))
        and ax.xaxis.get_label_position() != "top"
        and not ax.child_axes
        # no twin (twinx, twiny): other axes in the same place
        and not any(other is not ax and other.get_position().bounds == ax.get_position().bounds
                    for other in ax.figure.axes)
        # ScalarFormatter (the default) may draw an offset text above the axes
        and not isinstance(ax.yaxis.get_major_formatter(), ScalarFormatter)
    )
    if fixed:
        kwargs["y"] = 1.0
    return ax.set_title(label, **kwargs)


def rectangles(x, y, width, height, **kwargs):
    """Many axis-aligned rectangles as one :class:`~matplotlib.patches.PathPatch` [data coordinates].

    ``ax.bar``, ``ax.barh`` and ``Rectangle`` make an artist per rectangle, each with its own
    update of the data limits and its own draw call: about a millisecond per bar. One patch of
    them all is built and drawn at once and, as long as they do not overlap, looks the same:
    the same fill, edge and hatch (a hatch lines up with the canvas, not with each patch)
    (issue 20). Rectangles with a corner or size that is not finite are left out, as matplotlib
    leaves out such bars.

    Parameters
    ----------
    x, y : array-like [data units]
        Lower left corners (a negative width or height extends the other way).
    width, height : array-like or float [data units]
    **kwargs
        :class:`~matplotlib.patches.PathPatch` properties (``facecolor``, ``alpha``, ``hatch``,
        ``label``...).

    Returns
    -------
    matplotlib.patches.PathPatch
        Not yet added to axes (``ax.add_patch``).
    """
    import matplotlib as mpl
    import numpy as np
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath

    if not ({"edgecolor", "ec", "color", "hatch"} & set(kwargs) or mpl.rcParams["patch.force_edgecolor"]):
        kwargs["edgecolor"] = "none"  # as a Rectangle: no edge unless asked for (a PathPatch has one by default)
    x, y, width, height = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, y, width, height)))
    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(width) & np.isfinite(height)
    x, y, width, height = x[keep], y[keep], width[keep], height[keep]
    # each as the unit rectangle of matplotlib's Rectangle: lower left, lower right, upper right, upper left, closed
    corners = np.stack([x, y, x + width, y, x + width, y + height, x, y + height, x, y], axis=-1)
    codes = np.tile(np.array([MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO, MplPath.LINETO, MplPath.CLOSEPOLY],
                             dtype=MplPath.code_type), len(x))
    return PathPatch(MplPath(corners.reshape(-1, 2), codes), **kwargs)


#: zlib level of the PNG files: 1 packs these flat-colour charts about as well as the default 6
#: (a few % larger) in a fifth of the time (issue 20)
PNG_COMPRESS_LEVEL = 1


def write_png(path, rgba, dpi: float) -> Path:
    """Write an RGBA image as a PNG file, every row with the PNG filter "Up".

    Pillow (matplotlib's PNG writer) chooses a filter for each row by trying all five, which
    is two thirds of its time on these charts; "Up" (each byte minus the one above it) packs
    their flat colours about as well (a few % larger) at a third of the time, a tenth of the
    time of a figure (issue 20). The image is the same pixel for pixel; the file has the chunks
    matplotlib writes: the resolution (``pHYs``) and ``Software``.

    Parameters
    ----------
    path : path
    rgba : numpy.ndarray (row, column, channel) [uint8]
        Straight (not premultiplied) RGBA, as ``FigureCanvasAgg.buffer_rgba()``.
    dpi : float [dots per inch]

    Returns
    -------
    pathlib.Path
    """
    import struct
    import zlib

    import matplotlib as mpl
    import numpy as np

    rgba = np.asarray(rgba, dtype=np.uint8)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"write_png needs an RGBA image (rows, columns, 4), got shape {rgba.shape}")
    height, width = rgba.shape[:2]
    rows = rgba.reshape(height, width * 4)
    scanlines = np.empty((height, 1 + width * 4), dtype=np.uint8)
    scanlines[:, 0] = 2  # filter type Up; above the first row PNG counts zeros, so it is stored as is
    scanlines[:1, 1:] = rows[:1]
    np.subtract(rows[1:], rows[:-1], out=scanlines[1:, 1:])  # modulo 256, as PNG wants

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    per_metre = int(dpi / 0.0254 + 0.5)
    path = Path(path)
    path.write_bytes(b"".join([
        b"\x89PNG\r\n\x1a\n",
        chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)),  # 8-bit RGBA
        chunk(b"tEXt", f"Software\0Matplotlib version{mpl.__version__}, https://matplotlib.org/".encode("latin-1")),
        chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),
        chunk(b"IDAT", zlib.compress(scanlines, PNG_COMPRESS_LEVEL)),
        chunk(b"IEND", b""),
    ]))
    return path


def save_png(fig, path, dpi: int) -> Path:
    """Save a figure as PNG as :meth:`matplotlib.figure.Figure.savefig` does, drawing it once.

    ``savefig`` of a figure with a layout engine draws the figure twice: once with the
    rendering switched off, to run the layout, then for real (and it still makes that first
    pass when the layout engine is switched off, as long as the figure has one). Here the
    layout runs once on the renderer of the final resolution, then the figure is drawn once
    with the layout engine switched off, as ``savefig`` does for its second draw, and written by
    :func:`write_png`: the same pixels in about half the time (issue 20). With
    ``rcParams["savefig.bbox"]`` set (``"tight"`` crops the figure) this is ``savefig`` itself.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : path
    dpi : int [dots per inch]

    Returns
    -------
    pathlib.Path
    """
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    if mpl.rcParams["savefig.bbox"] is not None:
        fig.savefig(path, dpi=dpi, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
        return path
    engine = fig.get_layout_engine()
    canvas = FigureCanvasAgg(fig)
    original = fig.dpi, fig.get_facecolor(), fig.get_edgecolor()
    fig.dpi = dpi
    for prop, setter in (("facecolor", fig.set_facecolor), ("edgecolor", fig.set_edgecolor)):
        color = mpl.rcParams[f"savefig.{prop}"]
        if not (isinstance(color, str) and color == "auto"):
            setter(color)  # as savefig does
    try:
        if engine is not None:
            engine.execute(fig)  # on canvas.get_renderer() at the final dpi, as savefig's first draw
            fig.set_layout_engine("none")
        try:
            # one draw; savefig's print_figure would first draw again with the rendering
            # switched off, because a switched-off engine is still an engine
            canvas.draw()
        finally:
            if engine is not None:
                fig.set_layout_engine(engine)
        write_png(path, canvas.buffer_rgba(), dpi)
    finally:
        fig.dpi = original[0]
        fig.set_facecolor(original[1])
        fig.set_edgecolor(original[2])
    return path
