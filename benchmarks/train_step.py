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
    compiled        (CUDA only) the plain loop through torch.compile (integrate(..., backend="compiled"))

Paper 1's spectral coupling against the projector (``paper1``: one optimiser step each at equal
steps, see train_step_paper1.py), and the damped-noise step against the deterministic one
(``N784.ratios.fused_damped_over_fused``), are the issue-19 targets.

Timings are interleaved (round-robin over the methods, ``--reps`` repetitions, medians), in
float32 on ``--threads`` CPU threads or on ``--device cuda`` (then with N = 784 and N = 3072,
the compiled backend, and each method's peak GPU memory). Peak memory on the CPU: one training
step per subprocess, its peak resident set size minus the resident size before it (VmHWM after
resetting the mark; ru_maxrss elsewhere).

The last line of stdout is one JSON object with every figure (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling module, however this file is loaded
import train_step_paper1 as paper1  # noqa: E402
from sanode.coupling import ProjectorCoupling
from sanode.dynamics import Drift, HillFilter, LinearDecay
from sanode.noise import AdditiveNoise, DampedNoise, Noise
from sanode.solvers import integrate
from train_step_memory import measure_memory, memory_probe  # noqa: E402

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


def build_problem(
    n_nodes: int, batch: int, steps: int, *, dtype: torch.dtype = torch.float32, seed: int = 0, device: str = "cpu"
) -> Problem:
    """Paper 2's classifier on N nodes with class-block attractors, and a random batch (on ``device``)."""
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
    drift = drift.to(device)
    return Problem(drift, coupling, x0.to(device), attractors[labels].to(device), steps, attractors.to(device))


def _loss(final: Tensor, targets: Tensor) -> Tensor:
    return torch.mean((final - targets) ** 2)


def _clear(problem: Problem) -> None:
    for p in problem.coupling.parameters():
        p.grad = None


def sanode_step(problem: Problem, *, backend: str, noise: Noise | None = None, seed: int = 0) -> float:
    """Assemble A, integrate with sanode, MSE loss, backward; returns the loss."""
    _clear(problem)
    gen = torch.Generator(problem.x0.device).manual_seed(seed) if noise is not None else None
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
    device = problem.x0.device
    gen = torch.Generator(device).manual_seed(seed)
    b = problem.coupling.matrix()
    n, dtype = problem.n_nodes, problem.x0.dtype
    g = torch.eye(n, dtype=dtype, device=device)
    scale = math.sqrt(DT) * EPS
    x = problem.x0
    for _ in range(problem.steps):
        xi = torch.randn(x.shape, generator=gen, dtype=dtype, device=device)
        f = x**2 / (HILL_C + x**2)
        x = x + DT * (-x + BETA * (f @ b.T)) + scale * (xi @ g.T)
    loss = _loss(x, problem.targets)
    loss.backward()
    return float(loss.detach())


def roofline_step(
    n_nodes: int, batch: int, steps: int, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
) -> Callable[[], None]:
    """The GEMMs of one fused training step, as bare torch.mm calls on preallocated operands."""
    gen = torch.Generator().manual_seed(1)
    a = torch.rand(n_nodes, n_nodes, generator=gen, dtype=dtype).to(device)
    x = torch.rand(batch, n_nodes, generator=gen, dtype=dtype).to(device)
    out = torch.empty(batch, n_nodes, dtype=dtype, device=device)
    tall = torch.rand(steps * batch, n_nodes, generator=gen, dtype=dtype).to(device)
    big = torch.empty(n_nodes, n_nodes, dtype=dtype, device=device)

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
        "roofline": roofline_step(n, b, s, problem.x0.dtype, problem.x0.device),
    }
    if problem.x0.device.type == "cuda":
        table["compiled"] = lambda: sanode_step(problem, backend="compiled")
    if stochastic:
        noise = AdditiveNoise(n, EPS)  # G = identity
        table["fused_sde"] = lambda: sanode_step(problem, backend="fused", noise=noise)
        table["authors_sde"] = lambda: authors_sde_step(problem)
        damped = DampedNoise(problem.attractors, 1.0, 1.0, "authors")
        table["fused_damped"] = lambda: sanode_step(problem, backend="fused", noise=damped)
        table["plain_damped"] = lambda: sanode_step(problem, backend="autograd", noise=damped)
    return table


def _synchronize() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def time_interleaved(
    table: dict[str, Callable[[], object]], reps: int, gpu_memory: dict[str, float] | None = None
) -> dict[str, float]:
    """Median seconds per call, round-robin over the methods so that load changes hit all alike.

    With ``gpu_memory`` (a dict to fill), each method's peak CUDA memory in MiB (above what was
    allocated before its call) is recorded from its warm-up call.
    """
    for name, fn in table.items():  # warm-up: first-touch allocations, lazy imports, compilation
        if gpu_memory is not None:
            _synchronize()
            before = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        fn()
        if gpu_memory is not None:
            _synchronize()
            gpu_memory[name] = (torch.cuda.max_memory_allocated() - before) / 2**20
    samples: dict[str, list[float]] = {name: [] for name in table}
    for _ in range(reps):
        for name, fn in table.items():
            _synchronize()
            t0 = time.perf_counter()
            fn()
            _synchronize()
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) for name, v in samples.items()}


def run_shape(
    n_nodes: int, batch: int, steps: int, reps: int, *, stochastic: bool, device: str = "cpu", only: str | None = None
) -> dict[str, object]:
    problem = build_problem(n_nodes, batch, steps, device=device)
    gpu_memory: dict[str, float] | None = {} if device == "cuda" else None
    table = methods(problem, stochastic=stochastic)
    if only is not None:  # a subset of the methods, e.g. for a quick before/after of two of them
        table = {name: fn for name, fn in table.items() if name in only.split(",")}
    times = time_interleaved(table, reps, gpu_memory)
    result: dict[str, object] = {
        "shape": {"N": n_nodes, "B": batch, "steps": steps},
        "seconds": times,
        "samples_per_s": {k: batch / v for k, v in times.items()},
    }
    if gpu_memory is not None:
        result["peak_gpu_memory_mib"] = gpu_memory
    pairs = {  # name: (numerator, denominator) of a time ratio
        "fused_over_roofline": ("roofline", "fused"),
        "fused_speedup_over_plain": ("plain", "fused"),
        "fused_speedup_over_torchdiffeq": ("torchdiffeq", "fused"),
        "fused_sde_speedup_over_authors_sde": ("authors_sde", "fused_sde"),
        "fused_damped_speedup_over_plain_damped": ("plain_damped", "fused_damped"),
        "fused_damped_over_fused": ("fused_damped", "fused"),  # stochastic / deterministic step
        "fused_speedup_over_compiled": ("compiled", "fused"),
    }
    ratios = {name: times[num] / times[den] for name, (num, den) in pairs.items() if num in times and den in times}
    result["ratios"] = ratios
    return result


# What each target figure must reach (the README explains them).
TARGET_BOUNDS = {
    "N784_fused_over_roofline": ">= 0.85",
    "N49_fused_over_plain": ">= 3",
    "memory_fused_over_plain": "<= 0.4",
    "paper1_spectral_over_projector": "<= 1.2",
    "N784_damped_over_deterministic": "<= 1.3",
}


def _print_shape(res: dict[str, object], n: int, b: int, s: int) -> None:
    print(f"N={n} B={b} steps={s}", file=sys.stderr)
    for name, sps in res["samples_per_s"].items():  # type: ignore[attr-defined]
        ms = res["seconds"][name] * 1e3  # type: ignore[index]
        print(f"  {name:26s} {sps:12.1f} samples/s   ({ms:9.2f} ms/step)", file=sys.stderr)
    for name, value in res["ratios"].items():  # type: ignore[attr-defined]
        print(f"  {name:38s} {value:6.2f}", file=sys.stderr)


def run_paper1(reps: int, steps: int, device: str) -> dict[str, object]:
    """Paper 1's spectral coupling vs the projector, one optimiser step each (train_step_paper1.py)."""
    times = time_interleaved(paper1.optimiser_steps(steps=steps, device=device), reps)  # type: ignore[arg-type]
    res: dict[str, object] = {
        "shape": {"N": paper1.N_NODES, "B": paper1.BATCH, "steps": steps},
        "seconds": times,
        "samples_per_s": {k: paper1.BATCH / v for k, v in times.items()},
        "ratios": paper1.ratios(times),
    }
    _print_shape(res, paper1.N_NODES, paper1.BATCH, steps)
    return res


def _get(report: dict[str, object], *keys: str) -> object:
    node: object = report
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 repetitions, 10 steps, small memory probe")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per method (default 5, quick 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (cuda: N = 784 and 3072)")
    parser.add_argument("--shapes", default=None, help="comma-separated N (default 784,49 on cpu, 784,3072 on cuda)")
    parser.add_argument("--methods", default=None, help="comma-separated methods to time (default: all)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--no-paper1", action="store_true", help="skip the spectral-vs-projector optimiser steps")
    parser.add_argument("--memory-probe", choices=("fused", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--probe-shape", default="784,500,300", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device on this machine (torch.cuda.is_available() is False)")

    if args.memory_probe:
        n, b, s = (int(v) for v in args.probe_shape.split(","))
        out = memory_probe(args.memory_probe, n, b, s)
        print(json.dumps(out))
        return out

    reps = args.reps if args.reps is not None else (2 if args.quick else 5)
    steps = 10 if args.quick else 100
    sizes = args.shapes or ("784,3072" if args.device == "cuda" else "784,49")
    shapes = [(n, 100 if n < 100 else 256, steps) for n in (int(v) for v in sizes.split(","))]
    report: dict[str, object] = {
        "torch": torch.__version__,
        "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
        "threads": args.threads,
        "dtype": "float32",
        "reps": reps,
        "quick": args.quick,
    }
    for n, b, s in shapes:
        res = run_shape(n, b, s, reps, stochastic=True, device=args.device, only=args.methods)
        report[f"N{n}"] = res
        _print_shape(res, n, b, s)
    if not args.no_paper1:
        report["paper1"] = run_paper1(reps, 10 if args.quick else paper1.STEPS, args.device)
        # the shipped paper1-mnist integrates 12 steps per optimiser step (8 to T, 4 more to 1.5 T),
        # where the one solve per step weighs more than at 50
        report["paper1_shipped_steps"] = run_paper1(reps, paper1.SHIPPED_STEPS, args.device)

    if args.device == "cuda":
        fused, plain = _get(report, "N784", "peak_gpu_memory_mib", "fused"), _get(report, "N784", "peak_gpu_memory_mib", "plain")
        if isinstance(fused, float) and isinstance(plain, float) and plain > 0:
            report["peak_memory_mib"] = {
                "source": "cuda max_memory_allocated, N784",
                "fused": fused,
                "plain": plain,
                "fused_over_plain": fused / plain,
            }
    elif not args.no_memory:
        mshape = (784, 100, 20) if args.quick else (784, 500, 300)
        mem = {m: measure_memory(m, *mshape, args.threads) for m in ("fused", "plain")}
        report["peak_memory_mib"] = {
            "shape": {"N": mshape[0], "B": mshape[1], "steps": mshape[2]},
            **mem,
            "fused_over_plain": mem["fused"] / mem["plain"],
        }
        print(f"peak memory {mshape}: fused {mem['fused']:.0f} MiB, plain {mem['plain']:.0f} MiB", file=sys.stderr)

    report["targets"] = {
        "N784_fused_over_roofline": _get(report, "N784", "ratios", "fused_over_roofline"),
        "N784_fused_sde_over_authors_sde": _get(report, "N784", "ratios", "fused_sde_speedup_over_authors_sde"),
        "N49_fused_over_plain": _get(report, "N49", "ratios", "fused_speedup_over_plain"),
        "memory_fused_over_plain": _get(report, "peak_memory_mib", "fused_over_plain"),
        # paper1-mnist's coupling with the checked float32 solve (solve_dtype="auto", as shipped);
        # the float64 solve of unit-blocks-paper1-mnist is reported next to it.
        "paper1_spectral_over_projector": _get(report, "paper1", "ratios", "spectral_auto_over_projector"),
        "paper1_spectral_float64_over_projector": _get(report, "paper1", "ratios", "spectral_float64_over_projector"),
        "paper1_spectral_over_projector_shipped_steps": _get(
            report, "paper1_shipped_steps", "ratios", "spectral_auto_over_projector"
        ),
        "N784_damped_over_deterministic": _get(report, "N784", "ratios", "fused_damped_over_fused"),
    }
    report["target_bounds"] = TARGET_BOUNDS
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
