"""One training step (forward + loss + backward) of the CVFR classifier, timed several ways.

Methods, all on the same model (paper 2's setup: g(x) = −x, Hill filter c = 1/8, β = 1,
projector coupling B = A(I − P) + λP with K = 10 class-block attractors, Δt = 0.03):

    fused           sanode's fused Euler path  (integrate(..., backend="fused"))
    plain           sanode's plain autograd loop (integrate(..., backend="autograd"))
    torchdiffeq     torchdiffeq.odeint(func, x0, t, method="euler"), t of steps + 1 points
    authors_sde     paper 2's stochastic step re-implemented: x + Δt F(x) + √Δt ε (ξ_t @ Gᵀ),
                    dense G = I product every step (method-notes §2.2)
    fused_sde       sanode's fused Euler–Maruyama path with AdditiveNoise(G = identity)
    fused_damped    sanode's fused Euler–Maruyama path with paper 1's DampedNoise (authors'
                    envelope, σ = 1, κ = 1): the state-dependent noise, whose backward needs
                    the vector–Jacobian product of the increment at every step
    plain_damped    the same through the plain autograd loop
    roofline        the bare GEMMs of one step: forward steps × (B,N)@(N,N); backward
                    steps × (B,N)@(N,N) plus one (N, steps·B)@(steps·B, N)

Timings are interleaved (round-robin over the methods, ``--reps`` repetitions, medians), in
float32 on ``--threads`` CPU threads. Peak memory: one training step per subprocess, its peak resident set
size minus the resident size before it (VmHWM after resetting the mark; ru_maxrss elsewhere).

The last line of stdout is one JSON object with every figure (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from sanode.coupling import ProjectorCoupling
from sanode.dynamics import Drift, HillFilter, LinearDecay
from sanode.noise import AdditiveNoise, DampedNoise, Noise
from sanode.solvers import integrate

DT = 0.03
HILL_C = 1.0 / 8.0
BETA = 1.0
EIGENVALUE = 1.0
N_CLASSES = 10
EPS = 0.06  # paper 2's MNIST noise amplitude
X_PLUS = BETA * EIGENVALUE / 2 + math.sqrt((BETA * EIGENVALUE / 2) ** 2 - HILL_C)  # stable letter a₊


@dataclass
class Problem:
    """A model and a batch: everything one training step needs."""

    drift: Drift
    coupling: ProjectorCoupling
    x0: Tensor
    targets: Tensor
    steps: int
    attractors: Tensor

    @property
    def n_nodes(self) -> int:
        return int(self.x0.shape[1])

    @property
    def batch(self) -> int:
        return int(self.x0.shape[0])


def build_problem(n_nodes: int, batch: int, steps: int, *, dtype: torch.dtype = torch.float32, seed: int = 0) -> Problem:
    """Paper 2's classifier on N nodes with class-block attractors, and a random batch."""
    gen = torch.Generator().manual_seed(seed)
    k = min(N_CLASSES, n_nodes)
    width = n_nodes // k
    attractors = torch.zeros(k, n_nodes, dtype=dtype)
    for i in range(k):
        attractors[i, i * width : (i + 1) * width] = X_PLUS
    hill = HillFilter(HILL_C)
    coupling = ProjectorCoupling(hill(attractors), EIGENVALUE, generator=gen)
    drift = Drift(LinearDecay(), hill, coupling, beta=BETA)
    x0 = torch.rand(batch, n_nodes, generator=gen, dtype=dtype)
    labels = torch.randint(0, k, (batch,), generator=gen)
    return Problem(drift, coupling, x0, attractors[labels], steps, attractors)


def _loss(final: Tensor, targets: Tensor) -> Tensor:
    return torch.mean((final - targets) ** 2)


def _clear(problem: Problem) -> None:
    for p in problem.coupling.parameters():
        p.grad = None


def sanode_step(problem: Problem, *, backend: str, noise: Noise | None = None, seed: int = 0) -> float:
    """Assemble A, integrate with sanode, MSE loss, backward; returns the loss."""
    _clear(problem)
    gen = torch.Generator().manual_seed(seed) if noise is not None else None
    final = integrate(problem.drift.frozen(), problem.x0, dt=DT, steps=problem.steps, noise=noise, generator=gen, backend=backend)
    loss = _loss(final, problem.targets)
    loss.backward()
    return float(loss.detach())


def torchdiffeq_step(problem: Problem) -> float:
    """The same vector field through torchdiffeq.odeint(method="euler") on steps + 1 time points."""
    from torchdiffeq import odeint

    _clear(problem)
    field = problem.drift.frozen()
    t = torch.linspace(0.0, DT * problem.steps, problem.steps + 1, dtype=problem.x0.dtype)
    final = odeint(lambda _t, x: field(x), problem.x0, t, method="euler")[-1]
    loss = _loss(final, problem.targets)
    loss.backward()
    return float(loss.detach())


def authors_sde_step(problem: Problem, *, seed: int = 0) -> float:
    """Paper 2's Euler–Maruyama step as the authors write it, with a dense G = I every step.

    x_{t+1} = x_t + Δt [−x_t + β B f(x_t)] + √Δt ε (ξ_t @ Gᵀ),  ξ_t ~ N(0, I)  (method-notes §2.2).
    G is fixed (not trained), as in the authors' experiments.
    """
    _clear(problem)
    gen = torch.Generator().manual_seed(seed)
    b = problem.coupling.matrix()
    n, dtype = problem.n_nodes, problem.x0.dtype
    g = torch.eye(n, dtype=dtype)
    scale = math.sqrt(DT) * EPS
    x = problem.x0
    for _ in range(problem.steps):
        xi = torch.randn(x.shape, generator=gen, dtype=dtype)
        f = x**2 / (HILL_C + x**2)
        x = x + DT * (-x + BETA * (f @ b.T)) + scale * (xi @ g.T)
    loss = _loss(x, problem.targets)
    loss.backward()
    return float(loss.detach())


def roofline_step(n_nodes: int, batch: int, steps: int, dtype: torch.dtype = torch.float32) -> Callable[[], None]:
    """The GEMMs of one fused training step, as bare torch.mm calls on preallocated operands."""
    gen = torch.Generator().manual_seed(1)
    a = torch.rand(n_nodes, n_nodes, generator=gen, dtype=dtype)
    x = torch.rand(batch, n_nodes, generator=gen, dtype=dtype)
    out = torch.empty(batch, n_nodes, dtype=dtype)
    tall = torch.rand(steps * batch, n_nodes, generator=gen, dtype=dtype)
    big = torch.empty(n_nodes, n_nodes, dtype=dtype)

    def run() -> None:
        for _ in range(steps):  # forward
            torch.mm(x, a, out=out)
        for _ in range(steps):  # backward, adjoint
            torch.mm(x, a, out=out)
        torch.mm(tall.mT, tall, out=big)  # backward, ∂L/∂A over all steps

    return run


def methods(problem: Problem, *, stochastic: bool = True) -> dict[str, Callable[[], object]]:
    """The timed callables for one problem, by name."""
    n, b, s = problem.n_nodes, problem.batch, problem.steps
    table: dict[str, Callable[[], object]] = {
        "fused": lambda: sanode_step(problem, backend="fused"),
        "plain": lambda: sanode_step(problem, backend="autograd"),
        "torchdiffeq": lambda: torchdiffeq_step(problem),
        "roofline": roofline_step(n, b, s, problem.x0.dtype),
    }
    if stochastic:
        noise = AdditiveNoise(n, EPS)  # G = identity
        table["fused_sde"] = lambda: sanode_step(problem, backend="fused", noise=noise)
        table["authors_sde"] = lambda: authors_sde_step(problem)
        damped = DampedNoise(problem.attractors, 1.0, 1.0, "authors")
        table["fused_damped"] = lambda: sanode_step(problem, backend="fused", noise=damped)
        table["plain_damped"] = lambda: sanode_step(problem, backend="autograd", noise=damped)
    return table


def time_interleaved(table: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    """Median seconds per call, round-robin over the methods so that load changes hit all alike."""
    for fn in table.values():  # warm-up: first-touch allocations, lazy imports
        fn()
    samples: dict[str, list[float]] = {name: [] for name in table}
    for _ in range(reps):
        for name, fn in table.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) for name, v in samples.items()}


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


def memory_probe(method: str, n_nodes: int, batch: int, steps: int) -> dict[str, float]:
    """Peak resident memory of one training step above the resident memory before it.

    The peak since process start (``ru_maxrss``) includes transient peaks of ``import torch``,
    which can hide a small step; so where Linux allows, the peak mark is reset after setup and
    the step's peak is read from VmHWM. Elsewhere ``ru_maxrss`` after − before is used.
    """
    backend = "fused" if method == "fused" else "autograd"
    # A tiny step first: one-off allocations (autograd engine, BLAS workspaces) are not the step's.
    sanode_step(build_problem(n_nodes, 2, 2), backend=backend)
    problem = build_problem(n_nodes, batch, steps)
    if _reset_peak():
        base = _status_kib("VmRSS") or 0
        sanode_step(problem, backend=backend)
        peak, source = _status_kib("VmHWM") or 0, "VmHWM"
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        sanode_step(problem, backend=backend)
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
        __file__,
        "--memory-probe",
        method,
        "--probe-shape",
        f"{n_nodes},{batch},{steps}",
        "--threads",
        str(threads),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_bytes"] / 2**20


def run_shape(n_nodes: int, batch: int, steps: int, reps: int, *, stochastic: bool) -> dict[str, object]:
    problem = build_problem(n_nodes, batch, steps)
    times = time_interleaved(methods(problem, stochastic=stochastic), reps)
    result: dict[str, object] = {
        "shape": {"N": n_nodes, "B": batch, "steps": steps},
        "seconds": times,
        "samples_per_s": {k: batch / v for k, v in times.items()},
    }
    ratios = {
        "fused_over_roofline": times["roofline"] / times["fused"],
        "fused_speedup_over_plain": times["plain"] / times["fused"],
        "fused_speedup_over_torchdiffeq": times["torchdiffeq"] / times["fused"],
    }
    if stochastic:
        ratios["fused_sde_speedup_over_authors_sde"] = times["authors_sde"] / times["fused_sde"]
        ratios["fused_damped_speedup_over_plain_damped"] = times["plain_damped"] / times["fused_damped"]
    result["ratios"] = ratios
    return result


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 repetitions, 10 steps, small memory probe")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per method (default 5, quick 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--memory-probe", choices=("fused", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--probe-shape", default="784,500,300", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.memory_probe:
        n, b, s = (int(v) for v in args.probe_shape.split(","))
        out = memory_probe(args.memory_probe, n, b, s)
        print(json.dumps(out))
        return out

    reps = args.reps if args.reps is not None else (2 if args.quick else 5)
    steps = 10 if args.quick else 100
    shapes = [(784, 256, steps), (49, 100, steps)]
    report: dict[str, object] = {
        "torch": torch.__version__,
        "threads": args.threads,
        "dtype": "float32",
        "reps": reps,
        "quick": args.quick,
    }
    for n, b, s in shapes:
        res = run_shape(n, b, s, reps, stochastic=True)
        report[f"N{n}"] = res
        print(f"N={n} B={b} steps={s}", file=sys.stderr)
        for name, sps in res["samples_per_s"].items():  # type: ignore[union-attr]
            ms = res["seconds"][name] * 1e3  # type: ignore[index]
            print(f"  {name:12s} {sps:12.1f} samples/s   ({ms:9.2f} ms/step)", file=sys.stderr)
        for name, value in res["ratios"].items():  # type: ignore[union-attr]
            print(f"  {name:38s} {value:6.2f}", file=sys.stderr)

    if not args.no_memory:
        mshape = (784, 100, 20) if args.quick else (784, 500, 300)
        mem = {m: measure_memory(m, *mshape, args.threads) for m in ("fused", "plain")}
        report["peak_memory_mib"] = {
            "shape": {"N": mshape[0], "B": mshape[1], "steps": mshape[2]},
            **mem,
            "fused_over_plain": mem["fused"] / mem["plain"],
        }
        print(f"peak memory {mshape}: fused {mem['fused']:.0f} MiB, plain {mem['plain']:.0f} MiB", file=sys.stderr)

    n784, n49 = report["N784"], report["N49"]
    report["targets"] = {
        "N784_fused_over_roofline": n784["ratios"]["fused_over_roofline"],  # type: ignore[index]
        "N784_fused_sde_over_authors_sde": n784["ratios"]["fused_sde_speedup_over_authors_sde"],  # type: ignore[index]
        "N49_fused_over_plain": n49["ratios"]["fused_speedup_over_plain"],  # type: ignore[index]
        "memory_fused_over_plain": report.get("peak_memory_mib", {}).get("fused_over_plain"),  # type: ignore[union-attr]
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
