"""What every experiment driver shares: torch's thread count for a block, and the refusal to reuse a
run directory written with another configuration.

Paper 1, paper 2, the robustness study and ``sanode generate`` import these from here, so that no
driver imports another.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import torch

from sanode.config import RunConfig
from sanode.io.rundir import RunDir

__all__ = ["check_same_config", "torch_threads"]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch threads (None: leave torch's setting), then restore it."""
    # Single-threaded is several times faster for these small matrices on a busy 2-core machine.
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: obj}


def check_same_config(run: RunDir, config: RunConfig) -> None:
    """Refuse to resume or skip a run directory written with another configuration."""
    if not run.config_path.exists():
        return
    # Through from_dict, so keys added to the config since that run was written compare as defaults.
    stored_config = RunConfig.from_dict(json.loads(run.config_path.read_text()))
    stored = _flatten(json.loads(stored_config.to_json()))
    wanted = _flatten(json.loads(config.to_json()))
    differ = sorted(k for k in stored.keys() | wanted.keys() if stored.get(k) != wanted.get(k))
    if differ:
        shown = ", ".join(f"{k}: {stored.get(k)!r} there, {wanted.get(k)!r} wanted" for k in differ[:4])
        raise ValueError(
            f"{run.path} holds a run with another configuration ({shown}); "
            "use another --out folder, or delete that run directory to retrain it"
        )
