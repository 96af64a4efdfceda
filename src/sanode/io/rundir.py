"""A run directory: resolved config, metrics.jsonl, checkpoint, results.json and figures/.

Only this module writes into a run directory, and every write is atomic, so an interrupted or
failed run never leaves a half-written checkpoint or result behind.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sanode.config import RunConfig
from sanode.io.atomic import atomic_write_text
from sanode.io.checkpoint import load_checkpoint, save_checkpoint
from sanode.io.errors import CheckpointError
from sanode.io.lock import LOCK_NAME

__all__ = ["MODEL_METADATA", "RESUME_METADATA", "RunDir", "load_optimizer", "optimizer_tensors"]

MODEL_METADATA: dict[str, type] = {"n_nodes": int, "n_classes": int, "classes": list}
"""The metadata fields a checkpoint needs to rebuild its model, with their JSON types."""

RESUME_METADATA: dict[str, type] = {**MODEL_METADATA, "epoch": int, "optimizer": dict}
"""... and to resume training from it."""


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

    def has_epochs(self) -> bool:
        """True when a finished epoch is logged (a metrics line). A tensor file alone is not one: a
        kill between the two renames of the first save leaves it without its record, uncommitted."""
        return bool(self.read_metrics())

    def has_run(self) -> bool:
        """True when the directory holds anything besides its lock file (a run, or something else)."""
        return self.path.is_dir() and any(entry.name != LOCK_NAME for entry in self.path.iterdir())

    def check_usable(self) -> None:
        """Refuse a path that exists but is not a directory (before anything is written)."""
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"run directory {self.path} exists and is not a directory; choose another --run-dir")

    def move_aside(self) -> Path:
        """Rename this run directory to ``<name>.replaced-<time>`` next to it (never delete a run)."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.replaced-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.replaced-{stamp}-{n}")
        os.rename(self.path, target)
        return target

    def init(self, config: RunConfig) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.figures.mkdir(exist_ok=True)
        self.write_config(config, [])

    def write_config(self, config: RunConfig, resumes: list[dict[str, Any]]) -> None:
        """config.json: the resolved config and, under ``"resumes"``, every resume that changed it."""
        raw = config.to_dict()
        if resumes:
            raw["resumes"] = resumes
        atomic_write_text(self.config_path, json.dumps(raw, indent=2, sort_keys=True) + "\n")

    def resume_history(self) -> list[dict[str, Any]]:
        """The ``"resumes"`` list of config.json (empty for a run never resumed with changes)."""
        history = self._raw_config().get("resumes", [])
        return list(history) if isinstance(history, list) else []

    def log(self, record: dict[str, Any]) -> None:
        """Append one metrics line with a single ``write`` (a kill leaves no line or a whole one,
        at worst a torn last line, which :meth:`read_metrics` drops)."""
        line = (json.dumps(_finite_json(record)) + "\n").encode("utf-8")
        fd = os.open(self.metrics_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def read_metrics(self) -> list[dict[str, Any]]:
        """The metrics lines; a torn last line (a kill mid-write) is dropped, any other bad line refused."""
        if not self.metrics_path.exists():
            return []
        lines = [line for line in self.metrics_path.read_text().splitlines() if line.strip()]
        records = []
        for i, line in enumerate(lines):
            try:
                records.append(json.loads(line))
            except ValueError:
                if i == len(lines) - 1:
                    break
                raise ValueError(f"{self.metrics_path} line {i + 1} is not JSON; the file was edited or damaged") from None
        return records

    def truncate_metrics(self, epochs: int, last: dict[str, Any] | None = None) -> None:
        """Keep the metric lines up to ``epochs`` (a resumed run rewrites later ones).

        ``last`` is the checkpoint's own copy of epoch ``epochs``'s line: a kill after the
        checkpoint of an epoch was committed but before its line was appended left it out, and
        it is restored here, so no finished epoch is ever lost.
        """
        kept = [r for r in self.read_metrics() if r.get("epoch", 0) <= epochs]
        if last is not None and epochs > 0 and not any(r.get("epoch") == epochs for r in kept):
            kept.append(last)
        atomic_write_text(self.metrics_path, "".join(json.dumps(_finite_json(r)) + "\n" for r in kept))

    def save(self, tensors: dict[str, Tensor], metadata: dict[str, Any]) -> None:
        save_checkpoint(self.checkpoint_stem, tensors, _finite_json(metadata))

    def load(self, required: Mapping[str, type] = MODEL_METADATA) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """The checkpoint's tensors and metadata, the ``required`` fields' types checked.

        Raises:
            CheckpointError: the checkpoint is damaged, or a metadata field is missing or mistyped.
        """
        tensors, meta = load_checkpoint(self.checkpoint_stem)
        problems = [
            f"{key!r} is {meta.get(key)!r}, not {kind.__name__}"
            for key, kind in required.items()
            if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool)
        ]
        if isinstance(meta.get("classes"), list) and len(meta["classes"]) != meta.get("n_classes"):
            problems.append(f"'classes' lists {len(meta['classes'])} names for n_classes={meta.get('n_classes')!r}")
        if problems:
            raise CheckpointError(f"the checkpoint metadata in {self.checkpoint_stem}.json is unusable: {'; '.join(problems)}")
        return tensors, meta

    def _raw_config(self) -> dict[str, Any]:
        if not self.config_path.exists():
            raise FileNotFoundError(f"{self.path} is not a run directory (no config.json); train into it first")
        try:
            raw = json.loads(self.config_path.read_text())
        except ValueError as err:
            raise ValueError(f"{self.config_path} is not valid JSON ({err}); the run directory is damaged") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{self.config_path} does not hold a JSON object; the run directory is damaged")
        return raw

    def config(self) -> RunConfig:
        """The run's current config (the resume history of config.json is not a setting)."""
        raw = self._raw_config()
        raw.pop("resumes", None)
        return RunConfig.from_dict(raw)

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
