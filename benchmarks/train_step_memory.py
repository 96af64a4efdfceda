"""Peak resident memory of one training step, for ``train_step.py`` (CPU only).

The peak since process start (``ru_maxrss``) includes transient peaks of ``import torch``, which
can hide a small step; so where Linux allows, the peak mark is reset after setup and the step's
peak is read from VmHWM. Elsewhere ``ru_maxrss`` after − before is used.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ≥ 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def memory_probe(method: str, n_nodes: int, batch: int, steps: int) -> dict[str, object]:
    """Peak resident memory of one training step above the resident memory before it.

    The peak since process start (``ru_maxrss``) includes transient peaks of ``import torch``,
    which can hide a small step; so where Linux allows, the peak mark is reset after setup and
    the step's peak is read from VmHWM. Elsewhere ``ru_maxrss`` after − before is used.
    """
    import train_step as bench  # here, not at the top: train_step imports this module

    backend = "fused" if method == "fused" else "autograd"
    # A tiny step first: one-off allocations (autograd engine, BLAS workspaces) are not the step's.
    bench.sanode_step(bench.build_problem(n_nodes, 2, 2), backend=backend)
    problem = bench.build_problem(n_nodes, batch, steps)
    if _reset_peak():
        base = _status_kib("VmRSS") or 0
        bench.sanode_step(problem, backend=backend)
        peak, source = _status_kib("VmHWM") or 0, "VmHWM"
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        bench.sanode_step(problem, backend=backend)
        peak, source = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"
    # Both in KiB on Linux.
    return {
        "method": method,
        "peak_bytes": float(peak - base) * 1024,
        "baseline_bytes": float(base) * 1024,
        "source": source,
    }


def measure_memory(method: str, n_nodes: int, batch: int, steps: int, threads: int) -> float:
    """Run :func:`memory_probe` in a subprocess; the extra peak in MiB."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve().with_name("train_step.py")),
        "--memory-probe",
        method,
        "--probe-shape",
        f"{n_nodes},{batch},{steps}",
        "--threads",
        str(threads),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_bytes"] / 2**20
