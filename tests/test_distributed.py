"""Devices, mixed precision and data-parallel training (sanode.distributed + sanode.training).

The multi-process tests start 2 CPU processes (gloo, 127.0.0.1, 1 torch thread each) with
``distributed.launch_local``, which sets the variables torchrun sets.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from sanode import distributed
from sanode.cli._common import add_device_arguments
from sanode.config import RunConfig, load_config
from sanode.distributed import Context, DeviceUnavailable
from sanode.io.load import load_model
from sanode.io.rundir import RunDir
from sanode.training import train

# 251 items in batches of 100: the last batch (51) splits unevenly, 26 + 25, so the test also
# covers the |B_r|/|B| weighting of the gradient average. One epoch = 3 optimizer steps.
# float64: the test is about the algorithm (sharding, weighting, all-reduce); in float32 a different
# GEMM blocking for half batches changes roundoff, which Adam's first steps amplify to ~1e-5.
DDP = ["data.n_train=251", "data.n_test=60", "train.epochs=1", "solver.steps=10", "solver.dt=0.3", "train.dtype=float64"]
NO_CUDA = "no CUDA device on this machine (torch.cuda.is_available() is False)"


VARIANTS = {
    "plain": [],
    "val+patience": ["data.val_fraction=0.1", "train.patience=1"],
    "stochastic": ['model.noise={"kind": "damped", "sigma": 0.5}'],
}
# Exact resume under DDP: 2 epochs straight vs 1 epoch, then resumed to 2 (stochastic, so every
# rank's own noise stream must come back from the checkpoint).
RESUME = ['model.noise={"kind": "damped", "sigma": 0.5}', "train.lr_schedule=constant", "data.n_train=200"]


def _config(*extra: str) -> RunConfig:
    return load_config("paper1-letters", DDP + list(extra))


def _train_and_dump(jobs: list[tuple[dict, str, int, bool]]) -> None:
    """Worker: train every job (config, output folder, rendezvous port, resume); save this
    rank's parameters and what train returned."""
    rank = int(os.environ["RANK"])
    for config, out_dir, port, resume in jobs:
        os.environ["MASTER_PORT"] = str(port)  # a fresh rendezvous per process group
        result = train(RunConfig.from_dict(config), f"{out_dir}/run", resume=resume, progress=False)
        state = {k: v.contiguous() for k, v in result.model.state_dict().items()}
        save_file(state, f"{out_dir}/rank{rank}.safetensors")
        info = {"is_main": result.is_main, "has_results": bool(result.results)}
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(info))


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory) -> Path:
    """Every variant trained once by 2 processes (one launch: process start-up dominates)."""
    root = tmp_path_factory.mktemp("ddp")
    jobs = [(_config(*extra).to_dict(), str(root / name), False) for name, extra in VARIANTS.items()]
    jobs += [
        (_config(*RESUME, "train.epochs=2").to_dict(), str(root / "straight"), False),
        (_config(*RESUME, "train.epochs=1").to_dict(), str(root / "resumed"), False),
        (_config(*RESUME, "train.epochs=2").to_dict(), str(root / "resumed"), True),
    ]
    for _, out_dir, _ in jobs:
        Path(out_dir).mkdir(exist_ok=True)
    with_ports = [(config, out_dir, distributed.free_port(), resume) for config, out_dir, resume in jobs]
    distributed.launch_local(_train_and_dump, 2, with_ports, threads=1)
    return root


def _ranks(out_dir: Path) -> list[dict[str, torch.Tensor]]:
    return [load_file(out_dir / f"rank{r}.safetensors") for r in range(2)]


@pytest.mark.parametrize("variant", ["plain", "val+patience"])
def test_two_processes_equal_one_process_on_the_concatenated_batch(ddp_runs, tmp_path, variant):
    config = _config(*VARIANTS[variant])
    single = train(config, tmp_path / "single", progress=False)
    ranks = _ranks(ddp_runs / variant)
    for name, value in single.model.state_dict().items():
        assert torch.equal(ranks[0][name], ranks[1][name]), f"{name}: the ranks left lockstep"
        torch.testing.assert_close(ranks[0][name], value, rtol=0, atol=1e-5, msg=lambda m, name=name: f"{name}: {m}")
    trained = [k for k, p in single.model.named_parameters() if p.numel()]
    initial = train(_config(*VARIANTS[variant], "train.lr=1e-12"), progress=False).model.state_dict()
    assert any(not torch.allclose(initial[k], ranks[0][k], atol=1e-4) for k in trained), "nothing was trained"

    infos = [json.loads((ddp_runs / variant / f"rank{r}.json").read_text()) for r in range(2)]
    assert [i["is_main"] for i in infos] == [True, False]
    assert [i["has_results"] for i in infos] == [True, False]
    run, one = RunDir(ddp_runs / variant / "run"), RunDir(tmp_path / "single")
    assert [r["epoch"] for r in run.read_metrics()] == [1], "only rank 0 writes metrics, once per epoch"
    assert run.read_metrics()[0]["train_loss"] == pytest.approx(one.read_metrics()[0]["train_loss"], rel=1e-5)
    assert run.results()["test"]["acc_inner_product"] == pytest.approx(one.results()["test"]["acc_inner_product"], abs=2 / 60)


def test_stochastic_ranks_draw_independent_noise_and_stay_in_lockstep(ddp_runs):
    ranks = _ranks(ddp_runs / "stochastic")
    for name in ranks[0]:
        assert torch.equal(ranks[0][name], ranks[1][name]), name
    tensors, _ = RunDir(ddp_runs / "stochastic" / "run").load()
    states = [tensors[f"ddp.noise_rng.{r}"] for r in range(2)]
    assert not torch.equal(states[0], states[1])
    assert torch.equal(states[0], tensors["rng.generator.1"]), "rank 0's stream is the single-process one"


def test_resume_under_ddp_continues_every_rank_exactly(ddp_runs):
    for r, (a, b) in enumerate(zip(_ranks(ddp_runs / "straight"), _ranks(ddp_runs / "resumed"), strict=True)):
        for name in a:
            assert torch.equal(a[name], b[name]), f"rank {r}: {name}"
    straight, resumed = (_metrics_without_time(ddp_runs / name / "run") for name in ("straight", "resumed"))
    assert straight == resumed and len(resumed) == 2


# ------------------------------------------------------------------------------ sharding


@pytest.mark.parametrize("world", [1, 2, 3, 5])
@pytest.mark.parametrize("n", [0, 1, 4, 7, 100, 101])
def test_shards_partition_the_batch_in_rank_order(n, world):
    parts = [distributed.shard(n, r, world) for r in range(world)]
    covered = [i for p in parts for i in range(n)[p]]
    assert covered == list(range(n))
    sizes = [len(range(n)[p]) for p in parts]
    assert max(sizes) - min(sizes) <= 1


def test_check_sharding_refuses_uneven_or_empty_shards():
    distributed.check_sharding(300, 100, 2)
    distributed.check_sharding(7, 3, 1)
    with pytest.raises(ValueError, match="divisible by the 2 processes"):
        distributed.check_sharding(300, 101, 2)
    with pytest.raises(ValueError, match="last batch holds 1 item"):
        distributed.check_sharding(201, 100, 2)


def test_train_refuses_a_batch_size_the_processes_cannot_share(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(distributed, "setup", lambda device="cpu", environ=None: Context(rank=0, world_size=2))
    with pytest.raises(ValueError, match="divisible"):
        train(_config("train.batch_size=99"), progress=False)


def test_reduce_gradients_in_one_process_changes_nothing():
    p = torch.nn.Parameter(torch.ones(3))
    q = torch.nn.Parameter(torch.ones(2))  # never used: keeps grad None
    loss = (p**2).sum()
    loss.backward()
    before = p.grad.clone()
    assert distributed.reduce_gradients([p, q], loss, 5, 10, Context()) == pytest.approx(3.0)
    assert torch.equal(p.grad, before) and q.grad is None
    assert distributed.all_sum(2.5, Context()) == 2.5
    assert distributed.main_decides(True, Context()) is True


# ------------------------------------------------------------------------------ launch environment


def test_launch_env_parses_torchrun_variables():
    assert distributed.launch_env({}) is None
    assert distributed.launch_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == (1, 4, 1)
    assert distributed.launch_env({"RANK": "2", "WORLD_SIZE": "4"}) == (2, 4, 2)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"LOCAL_RANK": "0"}, "only LOCAL_RANK"),
        ({"RANK": "x", "WORLD_SIZE": "2"}, "must be integers"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, "0 <= RANK < WORLD_SIZE"),
        ({"RANK": "0", "WORLD_SIZE": "0"}, "WORLD_SIZE >= 1"),
    ],
)
def test_launch_env_rejects_inconsistent_variables(env, message):
    with pytest.raises(ValueError, match=message):
        distributed.launch_env(env)


def test_setup_with_one_process_or_without_rendezvous():
    ctx = distributed.setup("cpu", {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"})
    assert not ctx.distributed and ctx.is_main and not ctx.owns_group
    with pytest.raises(ValueError, match="MASTER_ADDR and MASTER_PORT must be set"):
        distributed.setup("cpu", {"RANK": "0", "WORLD_SIZE": "2"})


def test_noise_seeds_differ_per_rank_and_rank_zero_keeps_the_single_process_seed():
    seeds = [distributed.noise_seed(s, r) for s in range(3) for r in range(4)]
    assert len(set(seeds)) == len(seeds)
    assert distributed.noise_seed(7, 0) == 8


def test_rank_noise_restores_only_from_a_checkpoint_of_the_same_world_size():
    saved = [torch.Generator().manual_seed(s) for s in (11, 12)]
    tensors = {f"ddp.noise_rng.{r}": g.get_state() for r, g in enumerate(saved)}
    ctx = Context(rank=1, world_size=2)
    gen = torch.Generator().manual_seed(0)
    distributed.restore_noise_state(tensors, gen, ctx, seed=0)
    assert torch.equal(gen.get_state(), saved[1].get_state())
    with pytest.warns(UserWarning, match="different number of processes"):
        distributed.restore_noise_state(tensors, gen, Context(rank=1, world_size=3), seed=0)
    assert not torch.equal(gen.get_state(), saved[1].get_state())


# ------------------------------------------------------------------------------ devices and precision


def test_cpu_resolves_and_unknown_devices_are_refused():
    assert distributed.resolve_device("cpu") == torch.device("cpu")
    assert "cpu" in distributed.available_devices()
    with pytest.raises(DeviceUnavailable, match="not a device"):
        distributed.resolve_device("gpu0")
    with pytest.raises(DeviceUnavailable):
        distributed.resolve_device("meta")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present; its absence cannot be tested here")
def test_train_on_missing_cuda_says_so():
    with pytest.raises(DeviceUnavailable, match="CUDA is not available"):
        train(_config(), device="cuda", progress=False)


@pytest.mark.parametrize(
    "device, dtype, amp, message",
    [
        ("cpu", torch.float32, "fp8", "unknown mixed-precision mode"),
        ("cpu", torch.float32, "fp16", "needs a CUDA device"),
        ("cpu", torch.float64, "bf16", "set train.dtype=float32"),
    ],
)
def test_precision_combinations_the_device_cannot_run_are_refused(device, dtype, amp, message):
    with pytest.raises(ValueError, match=message):
        distributed.check_precision(torch.device(device), dtype, amp)


def test_bf16_autocast_trains_on_cpu():
    config = _config("train.dtype=float32")  # autocast needs float32 parameters
    mixed = train(config, progress=False, amp="bf16")
    assert 0.0 <= mixed.results["test"]["acc_inner_product"] <= 1.0
    assert all(torch.isfinite(p).all() for p in mixed.model.parameters())


def test_cli_flags_parse():
    parser = add_device_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--device", "cpu", "--amp", "bf16"])
    assert (args.device, args.amp) == ("cpu", "bf16")
    assert parser.parse_args([]).device == "cpu" and parser.parse_args([]).amp is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--amp", "fp8"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_training_matches_cpu(dtype):
    config = _config(f"train.dtype={dtype}")
    cpu = train(config, progress=False)
    gpu = train(config, progress=False, device="cuda")
    tol = 1e-4 if dtype == "float32" else 1e-9
    for (name, p), q in zip(cpu.model.named_parameters(), gpu.model.parameters(), strict=True):
        assert q.device.type == "cpu", "train returns the model on the CPU"
        torch.testing.assert_close(q, p, rtol=0, atol=tol, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_cuda_mixed_precision_trains(amp):
    result = train(_config(), progress=False, device="cuda", amp=amp)
    assert 0.0 <= result.results["test"]["acc_inner_product"] <= 1.0
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


# ------------------------------------------------------------------------------ exact resume after SIGKILL

# 3000 items in batches of 10: 300 optimizer steps per epoch, about a second or two here, so a
# kill right after epoch 1 is logged lands inside epoch 2.
KILL = [
    "data.n_train=3000",
    "data.n_test=100",
    "train.batch_size=10",
    "train.epochs=2",
    "solver.steps=10",
    "solver.dt=0.3",
]


def _cli_train(run_dir: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # as in this process: same sums
    for name in distributed.LAUNCH_VARS:
        env.pop(name, None)
    args = [sys.executable, "-m", "sanode.cli", "train", "--quiet", "--run-dir", str(run_dir), *extra]
    args += [item for s in KILL for item in ("--set", s)]
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_epoch(run_dir: Path, epoch: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    metrics = RunDir(run_dir)
    while time.monotonic() < deadline:
        if any(r.get("epoch") == epoch for r in metrics.read_metrics()):
            return
        if proc.poll() is not None:
            pytest.fail(f"training ended (rc {proc.returncode}) before epoch {epoch}: {proc.stderr.read().decode()}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"epoch {epoch} was not logged within {timeout} s")


def _metrics_without_time(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in RunDir(run_dir).read_metrics()]


def test_sigkill_during_epoch_two_then_resume_is_exact(tmp_path):
    straight = tmp_path / "straight"
    train(load_config("paper1-letters", KILL), straight, progress=False)

    split = tmp_path / "split"
    proc = _cli_train(split)
    _wait_for_epoch(split, 1, proc)
    time.sleep(0.05)  # into epoch 2, well before its end (300 optimizer steps)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL, "the run finished before the kill: make epoch 2 longer"
    assert [r["epoch"] for r in RunDir(split).read_metrics()] == [1]
    assert not RunDir(split).results_path.exists()

    resumed = _cli_train(split, "--resume")
    assert resumed.wait(timeout=60) == 0, resumed.stderr.read().decode()
    assert _metrics_without_time(split) == _metrics_without_time(straight)
    a, _, meta_a = load_model(straight)
    b, _, meta_b = load_model(split)
    assert meta_a["epoch"] == meta_b["epoch"] == 2
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name
