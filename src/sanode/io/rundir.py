"""A run directory: resolved config, metrics.jsonl, checkpoint, results.json and figures/.

Only this module writes into a run directory, and every write is atomic, so an interrupted or
failed run never leaves a half-written checkpoint or result behind.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sanode.config import RunConfig
from sanode.io.atomic import atomic_write_text
from sanode.io.checkpoint import load_checkpoint, save_checkpoint

__all__ = ["RunDir", "load_optimizer", "optimizer_tensors"]


def _finite_json(obj: Any) -> Any:
    """JSON cannot hold NaN; record it as null so files stay standard."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_json(v) for v in obj]
    return obj


class RunDir:
    """Paths and writers of one run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoint_stem(self) -> Path:
        return self.path / "checkpoint"

    @property
    def results_path(self) -> Path:
        return self.path / "results.json"

    @property
    def figures(self) -> Path:
        return self.path / "figures"

    def has_checkpoint(self) -> bool:
        return self.checkpoint_stem.with_suffix(".json").exists()

    def init(self, config: RunConfig) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.figures.mkdir(exist_ok=True)
        atomic_write_text(self.config_path, config.to_json() + "\n")

    def log(self, record: dict[str, Any]) -> None:
        with self.metrics_path.open("a") as fh:
            fh.write(json.dumps(_finite_json(record)) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def truncate_metrics(self, epochs: int) -> None:
        """Drop metric lines after ``epochs`` (a resumed run rewrites them)."""
        kept = [r for r in self.read_metrics() if r.get("epoch", 0) <= epochs]
        atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))

    def save(self, tensors: dict[str, Tensor], metadata: dict[str, Any]) -> None:
        save_checkpoint(self.checkpoint_stem, tensors, _finite_json(metadata))

    def load(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        return load_checkpoint(self.checkpoint_stem)

    def config(self) -> RunConfig:
        if not self.config_path.exists():
            raise FileNotFoundError(f"{self.path} is not a run directory (no config.json); train into it first")
        return RunConfig.from_dict(json.loads(self.config_path.read_text()))

    def write_results(self, results: dict[str, Any]) -> None:
        atomic_write_text(self.results_path, json.dumps(_finite_json(results), indent=2) + "\n")

    def results(self) -> dict[str, Any]:
        return json.loads(self.results_path.read_text()) if self.results_path.exists() else {}


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Flatten an optimizer state_dict into tensors + JSON (no pickle)."""
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, Tensor):
                tensors[f"optim.{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value
    for pid, values in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(values)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
