"""Figures of issue 16: accuracy against evaluation horizon, and the census's spurious states drawn
as images beside the planted attractors (like paper 1, Fig. 2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from torch import Tensor  # noqa: E402

from sanode.analysis.census import FixedPoint  # noqa: E402

__all__ = ["census_figure", "horizon_figure"]


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


def horizon_figure(curves: Mapping[str, tuple[Sequence[float], Sequence[float], float]], path: str | Path) -> Path:
    """Accuracy (nearest-attractor rule) against horizon t/T on a log axis, one line per model,
    with its settled accuracy as a marker at the right edge.

    Args:
        curves: label → (t/T values, accuracies, settled accuracy).
    """
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    right = max(max(ts) for ts, _, _ in curves.values()) * 1.6
    for label, (ts, accs, settled) in curves.items():
        (line,) = ax.plot(ts, [100 * a for a in accs], marker="o", ms=3, label=label)
        ax.plot([right], [100 * settled], marker="*", ms=11, color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("evaluation horizon t / T (★: settled, ‖F‖∞ < tol)")
    ax.set_ylabel("test accuracy, nearest attractor (%)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    return _save(fig, path)


def census_figure(
    attractors: Tensor,
    points: Sequence[FixedPoint],
    image_shape: Sequence[int],
    path: str | Path,
    *,
    max_spurious: int = 10,
) -> Path:
    """Planted attractors (top row) and the most visited spurious fixed points (bottom row), each
    titled with its input count, union members and max Re λ(J)."""
    shown = list(points[:max_spurious])
    k = attractors.shape[0]
    cols = max(k, len(shown), 1)
    fig, axes = plt.subplots(2, cols, figsize=(1.1 * cols, 2.8), squeeze=False)
    vmax = float(attractors.abs().max()) or 1.0
    for ax in axes.flat:
        ax.axis("off")
    for i in range(k):
        axes[0, i].imshow(attractors[i].reshape(*image_shape).detach().cpu().numpy(), cmap="gray_r", vmin=0, vmax=vmax)
        axes[0, i].set_title(f"planted {i}", fontsize=6)
    for j, p in enumerate(shown):
        axes[1, j].imshow(p.state.reshape(*image_shape).detach().cpu().numpy(), cmap="gray_r", vmin=0, vmax=vmax)
        members = "+".join(str(m) for m in p.members) if p.members else "other"
        axes[1, j].set_title(f"{members}\nn={p.count} Reλ={p.max_real:+.2f}", fontsize=5)
    return _save(fig, path)
