"""Train the same config under several seeds and summarise: the "mean over 5 seeds" of the papers."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from sanode.config import RunConfig, apply_overrides
from sanode.training import train

RULES = ("inner_product", "nearest", "threshold")


def repeat(
    config: RunConfig,
    seeds: list[int],
    out_dir: str | Path | None = None,
    *,
    vary_data: bool = False,
    progress: bool = False,
    device: str = "cpu",
) -> dict[str, Any]:
    """Train ``config`` once per seed (``train.seed``; also ``data.seed`` with ``vary_data``).

    Returns per-seed test accuracies, wall seconds and worst max Re λ(J), plus mean and std.
    """
    if not seeds:
        raise ValueError("give at least one seed")
    runs = []
    for seed in seeds:
        overrides = [f"train.seed={seed}"] + ([f"data.seed={seed}"] if vary_data else [])
        cfg = RunConfig.from_dict(apply_overrides(config.to_dict(), overrides))
        run_dir = Path(out_dir) / f"seed{seed}" if out_dir is not None else None
        result = train(cfg, run_dir, progress=progress, device=device).results
        runs.append(
            {
                "seed": seed,
                **{f"acc_{r}": result["test"][f"acc_{r}"] for r in RULES},
                "undecided_fraction": result["test"]["undecided_fraction"],
                "train_seconds": result["train_seconds"],
                "max_re_jacobian": max(s["max_real_eigenvalue"] for s in result["stability"]),
            }
        )
    summary: dict[str, Any] = {"config": config.name, "seeds": seeds, "vary_data": vary_data, "runs": runs}
    for key in [f"acc_{r}" for r in RULES] + ["train_seconds", "max_re_jacobian"]:
        values = [r[key] for r in runs]
        summary[f"{key}_mean"] = statistics.fmean(values)
        summary[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    summary["train_seconds_max"] = max(r["train_seconds"] for r in runs)
    return summary
