"""Figures (matplotlib, Agg backend, PNG): attractors, trajectories, spectra, learning curves, noise
realisations (paper 1 Fig. 4) and LNA covariance spectra (paper 2)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import Tensor  # noqa: E402

from sanode.analysis.lna import AttractorLNA  # noqa: E402
from sanode.analysis.stability import AttractorStability  # noqa: E402
from sanode.io.atomic import atomic_write_bytes  # noqa: E402


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def attractors_figure(
    attractors: Tensor,
    image_shape: Sequence[int],
    path: str | Path,
    *,
    examples: Tensor | None = None,
    classes: Sequence[str] | None = None,
) -> Path:
    """Paper 1 Fig. 2: one example input per class (top row) above its planted attractor."""
    k = attractors.shape[0]
    rows = 2 if examples is not None else 1
    fig, axes = plt.subplots(rows, k, figsize=(1.4 * k, 1.5 * rows), squeeze=False)
    for j in range(k):
        if examples is not None:
            axes[0, j].imshow(examples[j].reshape(*image_shape).cpu().numpy(), cmap="gray_r", vmin=0, vmax=1)
            axes[0, j].set_title(classes[j] if classes else str(j), fontsize=8)
        a = attractors[j].reshape(*image_shape).cpu().numpy()
        axes[rows - 1, j].imshow(a, cmap="gray_r", vmin=0, vmax=float(attractors.max()))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("input" if examples is not None else "attractor", fontsize=8)
    if examples is not None:
        axes[1, 0].set_ylabel("attractor", fontsize=8)
    return _save(fig, path)


def trajectories_figure(rates: Tensor, target: Tensor, dt: float, path: str | Path, *, title: str = "") -> Path:
    """Paper 1 Fig. 3: f(x_i(t)) for every node, red if node i must end lit, blue if it must end at 0.

    Args:
        rates: (steps + 1, N) firing rates along one trajectory.
        target: (N,) planted rate pattern of the input's class.
    """
    t = (torch.arange(rates.shape[0]) * dt).numpy()
    values = rates.detach().cpu().numpy()
    lit = target > 0.5 * float(target.max())
    fig, ax = plt.subplots(figsize=(5, 3))
    for i in range(values.shape[1]):
        ax.plot(t, values[:, i], color="tab:red" if lit[i] else "tab:blue", lw=0.6, alpha=0.6)
    ax.axhline(float(target.max()), color="tab:red", ls="--", lw=1)
    ax.axhline(0.0, color="tab:blue", ls="--", lw=1)
    ax.set_xlabel("t")
    ax.set_ylabel("f(x_i(t))")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def spectrum_figure(spectra: Sequence[AttractorStability], path: str | Path, *, classes: Sequence[str] | None = None) -> Path:
    """Eigenvalues of the Jacobian at every planted attractor in the complex plane."""
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    for s in spectra:
        label = classes[s.index] if classes else str(s.index)
        ax.scatter(
            s.eigenvalues.real.numpy(), s.eigenvalues.imag.numpy(), s=8, alpha=0.7, label=f"{label}: max Re {s.max_real:.3f}"
        )
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_xlabel("Re λ(J)")
    ax.set_ylabel("Im λ(J)")
    ax.legend(fontsize=6, loc="best")
    return _save(fig, path)


def learning_curves_figure(
    runs: dict[str, list[dict[str, Any]]],
    path: str | Path,
    *,
    key: str = "val_acc_inner_product",
    x: str = "epoch",
    title: str = "",
) -> Path:
    """One curve per run of ``key`` (or train loss when absent) against ``x``: "epoch" or "minutes"
    (the run's wall clock, so runs with different epoch costs compare by time spent)."""
    if x not in ("epoch", "minutes"):
        raise ValueError(f"x must be 'epoch' or 'minutes', got {x!r}")
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for name, records in runs.items():
        use = key if records and key in records[0] else "train_loss"
        xs = [r["epoch"] if x == "epoch" else r["seconds"] / 60 for r in records]
        ax.plot(xs, [r[use] for r in records], marker="o", ms=3, label=f"{name} ({use})")
    ax.set_xlabel("epoch" if x == "epoch" else "training wall time (min)")
    ax.set_ylabel(key.replace("_", " "))
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def noise_realisations_figure(node_rates: Tensor, target: float, dt: float, path: str | Path, *, title: str = "") -> Path:
    """Paper 1 Fig. 4: f(x_i(t)) of one node across noise realisations, with their std vs t inset.

    Args:
        node_rates: (T, R) rates of the node in R realisations.
        target: the rate the node must reach (dashed line, f(x_p) for a lit node).
        dt: time step.
        path: image file (.png).
        title: figure title.
    """
    if node_rates.ndim != 2 or node_rates.shape[1] < 2:
        raise ValueError(f"node_rates must have shape (T, R) with R >= 2, got {tuple(node_rates.shape)}")
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be finite and > 0, got {dt}")
    values = node_rates.detach().double().cpu().numpy()
    t = np.arange(values.shape[0]) * dt
    fig = Figure(figsize=(5.5, 3.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(t, values, color="tab:red", lw=0.6, alpha=0.35)
    ax.axhline(target, color="k", ls="--", lw=1)
    ax.set_xlabel("t")
    ax.set_ylabel("f(x_i(t))")
    if title:
        ax.set_title(title, fontsize=9)
    # The trajectories end near the target: put the inset in the other half of the y range.
    low, high = ax.get_ylim()
    late_in_upper_half = float(values[-1].mean()) > 0.5 * (low + high)
    inset = ax.inset_axes((0.52, 0.1 if late_in_upper_half else 0.55, 0.44, 0.33))
    inset.plot(t, values.std(axis=1), color="k", lw=1)
    inset.set_title("std over realisations", fontsize=7)
    inset.tick_params(labelsize=6)
    inset.locator_params(nbins=4)
    buffer = _png(fig)
    return atomic_write_bytes(Path(path), buffer)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def lna_spectrum_figure(results: list[AttractorLNA], path: str | Path, *, classes: list[str] | None = None) -> Path:
    """Eigenvalues of Σ_k (descending, log scale) for every stable attractor, one curve each."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for r in results:
        label = classes[r.index] if classes else str(r.index)
        if r.covariance is None:
            ax.plot([], [], ls="none", label=f"{label}: unstable (max Re λ {r.max_real:.3f})")
            continue
        values = r.spectrum()[0].clamp_min(1e-300).numpy()
        label = f"{label}: tr Σ = {r.trace:.3g}"
        ax.semilogy(range(1, len(values) + 1), values, marker=".", ms=3, lw=0.8, label=label)
    eps = results[0].eps if results else math.nan
    ax.set_xlabel("rank")
    ax.set_ylabel("eigenvalue of Σ (LNA)")
    ax.set_title(f"LNA covariance spectrum, ε = {eps:g}", fontsize=9)
    ax.legend(fontsize=6, loc="best")
    return _save(fig, path)
