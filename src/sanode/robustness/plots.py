"""The accuracy-against-intensity figure (paper 1, Figs. 5–6): one curve per model, with bands."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sanode.io.atomic import atomic_write_bytes

__all__ = ["plot_accuracy_vs_p"]


def _curve(rows: Sequence[Mapping[str, Any]], x_key: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    missing = [key for key in (x_key, column) if key not in rows[0]]
    if missing:
        raise ValueError(f"table rows lack column(s) {missing}; available: {', '.join(rows[0])}")
    return np.array([float(r[x_key]) for r in rows]), np.array([float(r[column]) for r in rows])


def plot_accuracy_vs_p(
    tables: Mapping[str, Sequence[Mapping[str, Any]] | Sequence[Sequence[Mapping[str, Any]]]],
    path: str | Path,
    *,
    column: str = "acc",
    x_key: str = "p",
    error_bands: bool = True,
    title: str = "",
) -> Path:
    """Accuracy against attack intensity, one curve per model (e.g. per σ), saved atomically.

    Each value of ``tables`` is one table (rows from :func:`accuracy_vs_attack`) or a list of
    tables, one per seed. With several seeds the curve is their mean and the band mean ± std
    across seeds; with one table the band is ± the ``<column>_std`` over noise realisations.

    Args:
        tables: label → table or tables.
        path: image file; the format follows the suffix (.png, .pdf, .svg).
        column: the accuracy column to draw.
        x_key: the column on the x axis.
        error_bands: draw the shaded bands.
        title: figure title.
    """
    if not tables:
        raise ValueError("tables is empty; pass at least one label → rows")
    fig = Figure(figsize=(5.5, 3.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, value in tables.items():
        # One table (a sequence of row mappings) or several (one per seed).
        seeds = cast(list[Sequence[Mapping[str, Any]]], [value] if value and isinstance(value[0], Mapping) else list(value))
        if not seeds or not all(seeds):
            raise ValueError(f"table {label!r} has no rows")
        curves = [_curve(rows, x_key, column) for rows in seeds]
        xs = curves[0][0]
        if any(c[0].shape != xs.shape or not np.allclose(c[0], xs) for c in curves):
            raise ValueError(f"the seeds of {label!r} were evaluated at different {x_key} values")
        ys = np.stack([c[1] for c in curves])
        mean = ys.mean(0)
        if len(seeds) > 1:
            spread = ys.std(0, ddof=1)
        elif f"{column}_std" in seeds[0][0]:
            spread = _curve(seeds[0], x_key, f"{column}_std")[1]
        else:
            spread = np.zeros_like(mean)
        (line,) = ax.plot(xs, mean, marker="o", markersize=3, label=f"{label} (n={len(seeds)})" if len(seeds) > 1 else label)
        if error_bands and np.any(spread > 0):
            ax.fill_between(xs, mean - spread, mean + spread, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(x_key)
    ax.set_ylabel(f"accuracy ({column})")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    target = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=target.suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
    return atomic_write_bytes(target, buffer.getvalue())
