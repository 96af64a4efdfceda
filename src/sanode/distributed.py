"""Where training runs: the device, mixed precision, and data parallelism across processes.

Data parallelism (``torchrun --nproc_per_node=K``). Every global batch 𝓑 of
``train.batch_size`` items is cut into K disjoint contiguous shards 𝓑_r, one per rank. The
training loss is a mean over items, L_𝓑 = Σ_r (|𝓑_r| / |𝓑|) L_{𝓑_r}, so its gradient is

    ∇L_𝓑 = Σ_r (|𝓑_r| / |𝓑|) ∇L_{𝓑_r}.

Each rank back-propagates its own shard, scales its gradients by |𝓑_r| / |𝓑| and one flat
all-reduce (sum) gives every rank ∇L_𝓑; identical Adam steps on identical parameters then
keep the ranks in lockstep, and K processes on 𝓑 compute what one process computes on the
concatenated batch (up to the order of floating-point sums). Every rank draws the same
shuffle (same generator seed), so the shards of one batch never overlap.

Why not :class:`torch.nn.parallel.DistributedDataParallel`: DDP overlaps communication with
the backward pass by hooking each parameter's gradient as it appears. Here the forward
integrates the whole trajectory inside one custom autograd function (the fused adjoint of
:mod:`sanode.solvers.backends.fused`) and the coupling matrix A is assembled from the parameters inside
the forward, so every gradient appears at once, at the very end of the backward: there is
nothing to overlap. DDP would also have to be told about parameters that never receive a
gradient (the rotation of a spectral coupling without complex pairs) and would wrap the model
in a module whose ``loss``/``attractors`` live one attribute deeper. An explicit all-reduce
after ``backward()`` is exact, short and keeps the model object unchanged.

Only rank 0 writes the run directory, evaluates and prints; the others train and return.
"""

from __future__ import annotations

import contextlib
import os
import socket
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor

LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
"""The variables torchrun (torch.distributed.run) sets in every process it starts."""

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
"""Mixed-precision modes: autocast's lower-precision dtype for matrix products."""

NOISE_SEED_STRIDE = 10_007
"""Rank r draws its SDE noise from seed + 1 + r · stride: distinct, non-overlapping seeds per rank,
and rank 0 keeps the single-process seed (seed + 1)."""


class DeviceUnavailable(ValueError):
    """The requested device does not exist on this machine or in this torch build."""


@dataclass(frozen=True)
class Context:
    """Where this process trains, and its place among the training processes.

    Attributes:
        device: the torch device the model and batches live on.
        rank: this process's index in [0, world_size).
        world_size: number of training processes (1: no data parallelism).
        local_rank: index among the processes on this machine (the CUDA device index).
        owns_group: this module created the process group, so :func:`teardown` destroys it.
    """

    device: torch.device = torch.device("cpu")
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files, evaluates and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


# ------------------------------------------------------------------------------ devices


def available_devices() -> list[str]:
    """Device names usable here: "cpu", plus "cuda" and "mps" when present."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names.append("cuda")
    if _mps_available():
        names.append("mps")
    return names


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str | torch.device) -> torch.device:
    """The torch device called ``name`` ("cpu", "cuda", "cuda:1", "mps"), checked to exist.

    Raises:
        DeviceUnavailable: not a device name, or the device is not present (the message lists
            the devices that are).
    """
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise DeviceUnavailable(f"{name!r} is not a device; choose one of {', '.join(available_devices())}") from err
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailable(
                f"device {str(name)!r} was requested but CUDA is not available (torch {torch.__version__}); "
                f"use one of {', '.join(available_devices())}"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceUnavailable(
                f"device {str(name)!r} was requested but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
        return device
    if device.type == "mps":
        if not _mps_available():
            raise DeviceUnavailable(
                f"device 'mps' was requested but the MPS backend is not available; use one of {', '.join(available_devices())}"
            )
        return device
    raise DeviceUnavailable(f"device type {device.type!r} is not supported; choose one of {', '.join(available_devices())}")


def check_precision(device: torch.device, param_dtype: torch.dtype, amp: str | None) -> None:
    """Refuse dtype / mixed-precision combinations the device cannot run.

    Raises:
        ValueError: an unknown ``amp`` mode, fp16 off CUDA, mixed precision with float64
            parameters, or float64 on MPS (which has no float64).
    """
    if amp is not None and amp not in AMP_DTYPES:
        raise ValueError(f"unknown mixed-precision mode {amp!r}; choose one of {', '.join(AMP_DTYPES)} (or None)")
    if amp == "fp16" and device.type != "cuda":
        raise ValueError(f"amp='fp16' needs a CUDA device (got {device.type}); use amp='bf16' or no amp")
    if amp is not None and param_dtype != torch.float32:
        raise ValueError(f"mixed precision lowers float32 products; set train.dtype=float32 (got {param_dtype})")
    if device.type == "mps" and param_dtype == torch.float64:
        raise ValueError("MPS has no float64: set train.dtype=float32 and model.solve_dtype=null (or float32)")


def autocast(device: torch.device, amp: str | None) -> contextlib.AbstractContextManager[None]:
    """torch.autocast to ``amp``'s dtype on ``device``, or a no-op without ``amp``."""
    if amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=AMP_DTYPES[amp])


def grad_scaler(device: torch.device, amp: str | None) -> torch.amp.GradScaler:
    """Loss scaling for fp16 (whose gradients underflow otherwise); disabled, a pass-through, otherwise."""
    return torch.amp.GradScaler(device.type, enabled=amp == "fp16")


# ------------------------------------------------------------------------------ process group


def launch_env(environ: Mapping[str, str] | None = None) -> tuple[int, int, int] | None:
    """(rank, world_size, local_rank) when this process was started by torchrun, else None.

    Raises:
        ValueError: only some of RANK / WORLD_SIZE / LOCAL_RANK are set, or they are not
            integers with 0 <= RANK < WORLD_SIZE.
    """
    env = os.environ if environ is None else environ
    present = [name for name in LAUNCH_VARS if name in env]
    if not present:
        return None
    if "RANK" not in env or "WORLD_SIZE" not in env:
        raise ValueError(
            f"only {', '.join(present)} of {', '.join(LAUNCH_VARS)} are set; launch with torchrun "
            "(python -m torch.distributed.run) or unset them"
        )
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local = int(env.get("LOCAL_RANK", rank))
    except ValueError as err:
        raise ValueError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers: {err}") from err
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"need WORLD_SIZE >= 1 and 0 <= RANK < WORLD_SIZE, got RANK={rank}, WORLD_SIZE={world}")
    return rank, world, local


def setup(device: str | torch.device = "cpu", environ: Mapping[str, str] | None = None) -> Context:
    """Resolve the device and, under torchrun, join the process group (gloo on CPU, nccl on CUDA).

    A process group that already exists (made by the caller) is used as it is. Under torchrun
    with CUDA, "cuda" becomes ``cuda:LOCAL_RANK``: one GPU per process.

    Raises:
        DeviceUnavailable: the device is not present.
        ValueError: inconsistent launch variables, MASTER_ADDR/MASTER_PORT missing, a CUDA
            index given under torchrun, or MPS with several processes.
    """
    target = resolve_device(device)
    launch = launch_env(environ)
    if launch is None and not (dist.is_available() and dist.is_initialized()):
        return Context(device=target)
    if launch is None:
        rank, world = dist.get_rank(), dist.get_world_size()
        local = rank
    else:
        rank, world, local = launch
    if world == 1:
        return Context(device=target, local_rank=local)
    if target.type == "mps":
        raise ValueError("data-parallel training on MPS is not supported; use one process or CPU/CUDA")
    if target.type == "cuda":
        if target.index is not None:
            raise ValueError(f"under torchrun pass --device cuda (got {device}); each process uses cuda:LOCAL_RANK")
        target = torch.device("cuda", local)
        resolve_device(target)
        torch.cuda.set_device(target)
    owns = False
    if not dist.is_initialized():
        env = os.environ if environ is None else environ
        missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if name not in env]
        if missing:
            raise ValueError(f"{' and '.join(missing)} must be set for {world} processes; launch with torchrun")
        dist.init_process_group("nccl" if target.type == "cuda" else "gloo", rank=rank, world_size=world)
        owns = True
    elif dist.get_world_size() != world or dist.get_rank() != rank:
        raise ValueError(
            f"the existing process group (rank {dist.get_rank()} of {dist.get_world_size()}) disagrees with "
            f"RANK={rank}, WORLD_SIZE={world}"
        )
    return Context(device=target, rank=rank, world_size=world, local_rank=local, owns_group=owns)


def teardown(ctx: Context) -> None:
    """Leave the process group if :func:`setup` joined it."""
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def session(device: str | torch.device = "cpu") -> Iterator[Context]:
    """``with session(device) as ctx:`` — :func:`setup` on entry, :func:`teardown` on exit."""
    ctx = setup(device)
    try:
        yield ctx
    finally:
        teardown(ctx)


# ------------------------------------------------------------------------------ sharding and reduction


def check_sharding(n_items: int, batch_size: int, world_size: int) -> None:
    """Every rank must get an equal, non-empty share of every global batch.

    Raises:
        ValueError: ``batch_size`` is not divisible by ``world_size``, or the last (short)
            batch has fewer items than there are processes.
    """
    if world_size == 1:
        return
    if batch_size % world_size:
        raise ValueError(
            f"train.batch_size={batch_size} is the global batch and must be divisible by the {world_size} "
            f"processes (each takes batch_size / {world_size}); choose a multiple of {world_size}"
        )
    last = n_items % batch_size
    if 0 < last < world_size:
        raise ValueError(
            f"the last batch holds {last} item(s), fewer than the {world_size} processes; "
            "change data.n_train or train.batch_size so that no process gets an empty shard"
        )


def shard(n: int, rank: int, world_size: int) -> slice:
    """The rows of a global batch of ``n`` items that ``rank`` takes: contiguous, disjoint,
    covering the batch in rank order, sizes differing by at most one."""
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def reduce_gradients(params: Sequence[Tensor], loss: Tensor, n_local: int, n_global: int, ctx: Context) -> float:
    """Replace each rank's gradients by the global-batch gradient; return the global-batch loss.

    Implements ∇L_𝓑 = Σ_r (|𝓑_r| / |𝓑|) ∇L_{𝓑_r} (module docstring) with one flat all-reduce
    holding, in order: the weighted gradients, one "has a gradient" flag per parameter (a
    parameter no rank touched keeps ``grad = None``, so Adam skips it exactly as in one
    process) and the weighted loss. One process: nothing is communicated.

    Args:
        params: the model's parameters, in the same order on every rank.
        loss: this rank's mean loss over its ``n_local`` items (a scalar).
        n_local: items in this rank's shard.
        n_global: items in the whole global batch.
        ctx: the training context.
    """
    if not ctx.distributed:
        return loss.item()
    dtype = params[0].dtype
    for p in params[1:]:
        dtype = torch.promote_types(dtype, p.dtype)
    weight = n_local / n_global
    parts = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).to(dtype) * weight for p in params]
    flags = torch.tensor([float(p.grad is not None) for p in params], dtype=dtype, device=ctx.device)
    flat = torch.cat([*parts, flags, (loss.detach().to(dtype) * weight).reshape(1)])
    dist.all_reduce(flat)
    offset = 0
    for i, p in enumerate(params):
        grad = flat[offset : offset + p.numel()].view_as(p).to(p.dtype)
        p.grad = grad if flat[-1 - len(params) + i] > 0 else None
        offset += p.numel()
    return float(flat[-1])


def all_sum(value: float, ctx: Context) -> float:
    """Σ over ranks of a float (identity in one process)."""
    if not ctx.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return float(t)


def main_decides(flag: bool, ctx: Context) -> bool:
    """Rank 0's ``flag`` on every rank (e.g. early stopping, decided from rank 0's validation)."""
    if not ctx.distributed:
        return flag
    t = torch.tensor([float(flag)], device=ctx.device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def broadcast_parameters(module: torch.nn.Module, ctx: Context) -> None:
    """Copy rank 0's parameters and buffers to every rank (the ranks then start identical even if
    something in their construction drew from an unseeded stream)."""
    if not ctx.distributed:
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


# ------------------------------------------------------------------------------ per-rank noise


def noise_seed(seed: int, rank: int) -> int:
    """Seed of rank ``rank``'s SDE noise stream: rank 0 keeps seed + 1 (the single-process seed),
    other ranks draw independent noise."""
    return seed + 1 + NOISE_SEED_STRIDE * rank


def noise_states(generator: torch.Generator, ctx: Context) -> dict[str, Tensor]:
    """Every rank's noise-generator state, as checkpoint tensors ``ddp.noise_rng.<rank>``, on rank 0
    (empty elsewhere and in one process). Collective: every rank must call it."""
    if not ctx.distributed:
        return {}
    gathered: list[Tensor | None] = [None] * ctx.world_size
    dist.all_gather_object(gathered, generator.get_state())
    if not ctx.is_main:
        return {}
    return {f"ddp.noise_rng.{r}": state for r, state in enumerate(gathered) if state is not None}


def restore_noise_state(tensors: Mapping[str, Tensor], generator: torch.Generator, ctx: Context, *, seed: int) -> None:
    """Put this rank's noise generator back where the checkpoint left it.

    Rank 0's stream is already restored with the other RNG states; other ranks read
    ``ddp.noise_rng.<rank>``. A checkpoint written by a different number of processes cannot
    continue those streams: they restart from fresh per-rank seeds, with a warning.
    """
    if not ctx.distributed or ctx.is_main:
        return
    saved = sum(1 for name in tensors if name.startswith("ddp.noise_rng."))
    if saved == ctx.world_size:
        generator.set_state(tensors[f"ddp.noise_rng.{ctx.rank}"].cpu())
        return
    warnings.warn(
        f"the checkpoint holds no noise state for rank {ctx.rank} of {ctx.world_size} (it was written by a "
        "different number of processes); this rank's noise restarts from a fresh seed, so the resumed run is "
        "not bit-identical to an uninterrupted one",
        stacklevel=2,
    )
    generator.manual_seed(noise_seed(seed, ctx.rank) + 7 * ctx.world_size)


# ------------------------------------------------------------------------------ local launcher


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (for MASTER_PORT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def launch_local(fn: Callable[..., None], nprocs: int, *args: Any, threads: int = 1, port: int | None = None) -> None:
    """Run ``fn(*args)`` in ``nprocs`` fresh processes wired as torchrun would wire them.

    Each process gets RANK = LOCAL_RANK = its index, WORLD_SIZE = ``nprocs`` and a rendezvous
    on 127.0.0.1:``port`` (default: a free port), and uses ``threads`` torch threads, so
    :func:`setup` (and hence :func:`sanode.training.train`) joins the group as under
    ``torchrun --nproc_per_node=nprocs``. For tests and benchmarks on one machine; ``fn`` must
    be importable (a module-level function). Returns when every process has finished.

    Raises:
        ValueError: ``nprocs`` < 1 or ``threads`` < 1.
        torch.multiprocessing.ProcessRaisedException: a process raised (the others are stopped).
    """
    if isinstance(nprocs, bool) or not isinstance(nprocs, int) or nprocs < 1:
        raise ValueError(f"nprocs must be an integer >= 1, got {nprocs!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    env = {"WORLD_SIZE": str(nprocs), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port or free_port())}
    mp.start_processes(_local_worker, args=(fn, env, threads, args), nprocs=nprocs, join=True, start_method="spawn")


def _local_worker(index: int, fn: Callable[..., None], env: dict[str, str], threads: int, args: tuple[Any, ...]) -> None:
    os.environ.update(env)
    os.environ["RANK"] = os.environ["LOCAL_RANK"] = str(index)
    torch.set_num_threads(threads)
    fn(*args)
