"""Work buffers of the fused adjoint's backward, kept per thread between calls."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

__all__ = ["SCRATCH", "ScratchPool"]


class ScratchPool(threading.local):
    """Work buffers of the backward, kept per thread and reused by the next backward.

    A backward needs a few chunk-sized buffers that die with it. At small N a whole training
    step lasts milliseconds, and fresh multi-megabyte buffers cost more than the arithmetic:
    the C allocator returns them to the OS after each step and the next step page-faults them
    in again (measured at N = 49, B = 100, 100 steps: about 700 faults and 2 ms of kernel time
    per step, a third of the step). Buffers up to ``max_bytes`` in all are therefore kept; larger
    problems allocate per call as before (their GEMMs dwarf the faults, and holding hundreds of
    megabytes between steps would not be welcome). Nothing a backward returns comes from here.
    """

    max_bytes = 32 * 2**20

    def __init__(self) -> None:
        self.kept: dict[tuple[Any, ...], Tensor] = {}
        self.busy = False

    @contextmanager
    def session(self, total_bytes: int) -> Iterator[bool]:
        """Yields whether this backward may take pooled buffers (not re-entrant, size-capped)."""
        usable = not self.busy and total_bytes <= self.max_bytes
        if not usable:
            yield False
            return
        self.busy = True
        try:
            yield True
        finally:
            self.busy = False

    def take(self, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        key = (name, shape, like.dtype, like.device)
        buf = self.kept.get(key)
        if buf is None:
            # One kept set per name: a new shape replaces the old buffer instead of piling up.
            for old in [k for k in self.kept if k[0] == name]:
                del self.kept[old]
            buf = self.kept[key] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return buf


SCRATCH = ScratchPool()
