"""Tests for sanode.io: atomic writes, checkpoint round trips, refusal of damaged files, crash safety, RNG state."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from sanode.io.atomic import atomic_write_bytes, atomic_write_text, atomic_writer
from sanode.io.checkpoint import PREVIOUS_SUFFIX, checkpoint_paths, load_checkpoint, save_checkpoint
from sanode.io.errors import CheckpointError, CheckpointWarning
from sanode.io.rng import capture_rng_state, restore_rng_state

DTYPES = [torch.float32, torch.float64, torch.int64]


def _tensors(dtype: torch.dtype, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    if dtype.is_floating_point:
        coupling = torch.randn(4, 4, generator=g, dtype=dtype)
        bias = torch.randn(4, generator=g, dtype=dtype)
    else:
        coupling = torch.randint(-1000, 1000, (4, 4), generator=g, dtype=dtype)
        bias = torch.randint(-1000, 1000, (4,), generator=g, dtype=dtype)
    return {"coupling": coupling, "bias": bias, "step": torch.tensor(7, dtype=torch.int64)}


def _metadata() -> dict[str, Any]:
    return {
        "config": {"name": "paper1-letters", "beta": 0.5, "c": 1e-3, "layers": [1, 2, {"deep": None}]},
        "epoch": 3,
        "metrics": {"accuracy": 0.875, "ok": True, "note": "ünïcode ✓"},
        "empty": {},
    }


def _leftover_temp_files(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.endswith(".tmp")]


def _data_offset(tensor_file: Path) -> int:
    """Start of the safetensors data region: 8-byte little-endian header length, header, data."""
    (header_len,) = struct.unpack("<Q", tensor_file.read_bytes()[:8])
    return 8 + header_len


# ----------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_preserves_tensors_and_nested_metadata(tmp_path: Path, dtype: torch.dtype) -> None:
    tensors = _tensors(dtype)
    record = save_checkpoint(tmp_path / "run" / "checkpoint", tensors, _metadata())

    tensor_file, record_file = checkpoint_paths(tmp_path / "run" / "checkpoint")
    assert record == record_file and tensor_file.exists() and record_file.exists()
    loaded, metadata = load_checkpoint(tmp_path / "run" / "checkpoint")
    assert loaded.keys() == tensors.keys()
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype
        assert torch.equal(loaded[name], tensor)
    assert metadata == _metadata()
    assert not _leftover_temp_files(tmp_path / "run")
    assert not (tmp_path / "run" / ("checkpoint" + PREVIOUS_SUFFIX)).exists()


def test_record_holds_manifest_and_hash(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "ck", _tensors(torch.float32), {"epoch": 1})
    record = json.loads((tmp_path / "ck.json").read_text())
    assert record["tensors"]["coupling"] == {"dtype": "float32", "shape": [4, 4]}
    assert record["tensors"]["step"] == {"dtype": "int64", "shape": []}
    assert record["size_bytes"] == (tmp_path / "ck.safetensors").stat().st_size
    assert record["sha256"] == hashlib.sha256((tmp_path / "ck.safetensors").read_bytes()).hexdigest()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_awkward_tensors_are_made_savable(tmp_path: Path, dtype: torch.dtype) -> None:
    base = torch.randn(3, 5, dtype=dtype, requires_grad=True)
    shared = torch.arange(12, dtype=dtype)
    tensors = {
        "transposed": base.t(),  # non-contiguous, requires grad
        "whole": shared,
        "view": shared.view(3, 4),  # shares storage with "whole"
        "empty": torch.zeros(0, 2, dtype=dtype),
    }
    save_checkpoint(tmp_path / "ck", tensors, {})
    loaded, _ = load_checkpoint(tmp_path / "ck.json", device=torch.device("cpu"))
    for name, tensor in tensors.items():
        assert torch.equal(loaded[name], tensor.detach()), name
    assert not loaded["transposed"].requires_grad


def test_tuples_come_back_as_lists_and_dotted_stems_keep_their_dot(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "ck.epoch3", {"x": torch.ones(2)}, {"shape": (28, 28)})
    assert (tmp_path / "ck.epoch3.safetensors").exists()
    _, metadata = load_checkpoint(tmp_path / "ck.epoch3")
    assert metadata == {"shape": [28, 28]}


def test_overwrite_replaces_previous_checkpoint(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "ck", _tensors(torch.float32, seed=1), {"epoch": 1})
    save_checkpoint(tmp_path / "ck", _tensors(torch.float32, seed=2), {"epoch": 2})
    loaded, metadata = load_checkpoint(tmp_path / "ck")
    assert metadata["epoch"] == 2
    assert torch.equal(loaded["coupling"], _tensors(torch.float32, seed=2)["coupling"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.json", "ck.safetensors"]


# ----------------------------------------------------------------------------- refusal


@pytest.mark.parametrize("seed", range(6))
def test_truncated_tensor_file_is_refused(tmp_path: Path, seed: int) -> None:
    save_checkpoint(tmp_path / "ck", _tensors(torch.float64), _metadata())
    tensor_file = tmp_path / "ck.safetensors"
    data = tensor_file.read_bytes()
    cut = random.Random(seed).randrange(0, len(data))
    tensor_file.write_bytes(data[:cut])

    with pytest.raises(CheckpointError, match="truncated") as info:
        load_checkpoint(tmp_path / "ck")
    assert "ck.safetensors" in str(info.value)
    assert f"{cut} bytes" in str(info.value)


@pytest.mark.parametrize("seed", range(4))
def test_truncated_record_is_refused(tmp_path: Path, seed: int) -> None:
    save_checkpoint(tmp_path / "ck", _tensors(torch.float32), _metadata())
    record_file = tmp_path / "ck.json"
    text = record_file.read_text()
    cut = random.Random(seed).randrange(1, len(text) - 2)  # the trailing "}\n" must go
    record_file.write_text(text[:cut])

    with pytest.raises(CheckpointError, match=r"ck\.json is not valid JSON"):
        load_checkpoint(tmp_path / "ck")


@pytest.mark.parametrize("seed", range(4))
def test_flipped_data_byte_is_refused_as_hash_mismatch(tmp_path: Path, seed: int) -> None:
    save_checkpoint(tmp_path / "ck", _tensors(torch.float32), _metadata())
    tensor_file = tmp_path / "ck.safetensors"
    data = bytearray(tensor_file.read_bytes())
    position = random.Random(seed).randrange(_data_offset(tensor_file), len(data))
    data[position] ^= 0xFF
    tensor_file.write_bytes(bytes(data))

    with pytest.raises(CheckpointError, match="hash mismatch") as info:
        load_checkpoint(tmp_path / "ck")
    assert "ck.safetensors" in str(info.value) and "SHA-256" in str(info.value)


def test_rewritten_tensor_with_other_shape_is_refused_naming_both_shapes(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "ck", _tensors(torch.float32), {})
    replaced = _tensors(torch.float32)
    replaced["coupling"] = torch.zeros(3, 4)
    save_file(replaced, str(tmp_path / "ck.safetensors"))  # the record is left as it was

    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "ck")
    message = str(info.value)
    assert "'coupling'" in message and "(3, 4)" in message and "(4, 4)" in message
    assert "hash mismatch" in message


def test_edited_manifest_shape_is_refused(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "ck", _tensors(torch.float32), {})
    record_file = tmp_path / "ck.json"
    record = json.loads(record_file.read_text())
    record["tensors"]["bias"]["shape"] = [5]
    record_file.write_text(json.dumps(record))

    with pytest.raises(CheckpointError, match=r"'bias' has shape \(4,\) where the manifest records \(5,\)"):
        load_checkpoint(tmp_path / "ck")


@pytest.mark.parametrize(
    ("expected", "pattern"),
    [
        ({"coupling": ((3, 4), torch.float32)}, r"'coupling' has shape \(4, 4\) where \(3, 4\) was expected"),
        ({"coupling": ((4, 4), torch.float64)}, r"'coupling' has dtype float32 where float64 was expected"),
        ({"readout": ((10,), torch.float32)}, r"missing tensor 'readout'"),
    ],
)
def test_expected_mismatch_is_refused(tmp_path: Path, expected: dict[str, Any], pattern: str) -> None:
    save_checkpoint(tmp_path / "ck", _tensors(torch.float32), {})
    with pytest.raises(CheckpointError, match=pattern):
        load_checkpoint(tmp_path / "ck", expected=expected)


def test_matching_expected_is_accepted(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "ck", _tensors(torch.float32), {})
    loaded, _ = load_checkpoint(tmp_path / "ck", expected={"coupling": ((4, 4), torch.float32)})
    assert loaded["coupling"].shape == (4, 4)


def test_malformed_expected_is_a_value_error(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "ck", _tensors(torch.float32), {})
    with pytest.raises(ValueError, match=r"expected\['coupling'\]"):
        load_checkpoint(tmp_path / "ck", expected={"coupling": (4, 4)})  # type: ignore[dict-item]


@pytest.mark.parametrize("missing", ["ck.json", "ck.safetensors"])
def test_missing_file_is_named(tmp_path: Path, missing: str) -> None:
    save_checkpoint(tmp_path / "ck", _tensors(torch.float32), {})
    (tmp_path / missing).unlink()
    with pytest.raises(CheckpointError, match=re.escape(missing) + " is missing"):
        load_checkpoint(tmp_path / "ck")


def test_unknown_format_version_is_refused(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "ck", _tensors(torch.float32), {})
    record_file = tmp_path / "ck.json"
    record = json.loads(record_file.read_text())
    record["format_version"] = 99
    record_file.write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_checkpoint(tmp_path / "ck")


def test_safetensors_parse_errors_become_checkpoint_errors(tmp_path: Path) -> None:
    """Garbage whose hash and size *are* recorded still fails as a CheckpointError."""
    save_checkpoint(tmp_path / "ck", _tensors(torch.float32), {})
    garbage = struct.pack("<Q", 40) + b"{not json at all" + bytes(50)
    (tmp_path / "ck.safetensors").write_bytes(garbage)
    record_file = tmp_path / "ck.json"
    record = json.loads(record_file.read_text())
    record["sha256"] = hashlib.sha256(garbage).hexdigest()
    record["size_bytes"] = len(garbage)
    record_file.write_text(json.dumps(record))

    with pytest.raises(CheckpointError, match="safetensors cannot parse it"):
        load_checkpoint(tmp_path / "ck")


# ----------------------------------------------------------------------------- crash safety


@pytest.mark.parametrize("failing_call", [1, 2])
def test_crash_mid_save_leaves_previous_checkpoint_loadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    old = _tensors(torch.float32, seed=1)
    save_checkpoint(tmp_path / "ck", old, {"epoch": 1})

    real_replace = os.replace
    calls = {"n": 0}

    def crashing_replace(src: Any, dst: Any) -> None:
        calls["n"] += 1
        if calls["n"] == failing_call:
            raise OSError("simulated crash")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crashing_replace)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(tmp_path / "ck", _tensors(torch.float32, seed=2), {"epoch": 2})
    monkeypatch.setattr(os, "replace", real_replace)
    assert not _leftover_temp_files(tmp_path)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded, metadata = load_checkpoint(tmp_path / "ck")
    assert metadata == {"epoch": 1}
    for name, tensor in old.items():
        assert torch.equal(loaded[name], tensor)
    recovered = any(issubclass(w.category, CheckpointWarning) for w in caught)
    assert recovered == (failing_call == 2)  # only a crash between the two renames needs recovery

    save_checkpoint(tmp_path / "ck", _tensors(torch.float32, seed=3), {"epoch": 3})
    _, metadata = load_checkpoint(tmp_path / "ck")
    assert metadata == {"epoch": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.json", "ck.safetensors"]


def test_two_crashes_in_a_row_still_keep_the_committed_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = _tensors(torch.float64, seed=1)
    save_checkpoint(tmp_path / "ck", old, {"epoch": 1})
    real_replace = os.replace

    def replace_tensors_only(src: Any, dst: Any) -> None:
        if str(dst).endswith(".json"):
            raise OSError("simulated crash")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_tensors_only)
    for seed in (2, 3):
        with pytest.raises(OSError):
            save_checkpoint(tmp_path / "ck", _tensors(torch.float64, seed=seed), {"epoch": seed})
    monkeypatch.setattr(os, "replace", real_replace)

    with pytest.warns(CheckpointWarning, match="interrupted save"):
        loaded, metadata = load_checkpoint(tmp_path / "ck")
    assert metadata == {"epoch": 1}
    assert torch.equal(loaded["coupling"], old["coupling"])


# ----------------------------------------------------------------------------- rejected input


@pytest.mark.parametrize(
    ("metadata", "pattern"),
    [
        ({"metrics": {"loss": float("nan")}}, r"metadata\['metrics'\]\['loss'\] is nan"),
        ({"lr": float("inf")}, r"metadata\['lr'\] is inf"),
        ({"history": [0.5, float("-inf")]}, r"metadata\['history'\]\[1\] is -inf"),
        ({"config": {"obj": object()}}, r"metadata\['config'\]\['obj'\] is a object, which is not JSON"),
        ({"classes": {"a", "b"}}, r"metadata\['classes'\] is a set"),
        ({"accuracy": np.float32(0.5)}, r"metadata\['accuracy'\] is a float32.*\.item\(\)"),
        ({"step": torch.tensor(3)}, r"metadata\['step'\] is a Tensor"),
        ({"per_class": {0: 0.9}}, r"metadata\['per_class'\] has key 0 of type int"),
    ],
)
def test_bad_metadata_is_rejected_naming_the_key(tmp_path: Path, metadata: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        save_checkpoint(tmp_path / "ck", {"x": torch.ones(2)}, metadata)
    assert not list(tmp_path.iterdir())  # nothing was written


@pytest.mark.parametrize(
    ("tensors", "pattern"),
    [
        ({"x": np.ones(2)}, r"tensors\['x'\] is a ndarray, not a torch.Tensor"),
        ({"x": [1.0, 2.0]}, r"tensors\['x'\] is a list"),
        ({"x": torch.tensor([1.0, float("nan")])}, r"tensors\['x'\] contains 1 NaN/Inf"),
        ({"": torch.ones(1)}, r"non-empty str"),
    ],
)
def test_bad_tensors_are_rejected(tmp_path: Path, tensors: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        save_checkpoint(tmp_path / "ck", tensors, {})


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nonfinite_tensors_can_be_kept_on_request(tmp_path: Path, dtype: torch.dtype) -> None:
    x = torch.tensor([1.0, float("nan"), float("inf")], dtype=dtype)
    save_checkpoint(tmp_path / "ck", {"x": x}, {}, allow_nonfinite=True)
    loaded, _ = load_checkpoint(tmp_path / "ck")
    assert torch.equal(loaded["x"].isnan(), x.isnan()) and loaded["x"][2] == float("inf")


# ----------------------------------------------------------------------------- atomic writes


def test_atomic_write_text_and_bytes(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "table.csv"
    assert atomic_write_text(target, "a,b\n1,2\n") == target
    assert target.read_text() == "a,b\n1,2\n"
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert not _leftover_temp_files(target.parent)
    with pytest.raises(ValueError, match="needs bytes"):
        atomic_write_bytes(target, "text")  # type: ignore[arg-type]


def test_atomic_writer_commits_only_a_completed_block(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "download.gz"
    with atomic_writer(target) as out:
        out.write(b"first ")
        out.write(b"part")
        assert not target.exists()  # nothing visible before the block ends
    assert target.read_bytes() == b"first part"
    with pytest.raises(RuntimeError, match="checksum"):
        with atomic_writer(target) as out:
            out.write(b"tampered")
            raise RuntimeError("checksum mismatch")
    assert target.read_bytes() == b"first part"
    assert not _leftover_temp_files(target.parent)


def test_atomic_write_crash_keeps_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "results.json"
    atomic_write_text(target, "old")

    def crash(src: Any, dst: Any) -> None:
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert not _leftover_temp_files(tmp_path)


# ----------------------------------------------------------------------------- RNG state


def _draw(generator: torch.Generator) -> tuple[Any, ...]:
    return (
        torch.rand(5),
        torch.randn(3, generator=generator),
        np.random.standard_normal(3),
        np.random.randint(0, 1 << 30, size=4),
        random.random(),
        random.gauss(0.0, 1.0),
    )


def _assert_same_draws(a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert np.array_equal(a[2], b[2]) and np.array_equal(a[3], b[3])
    assert a[4] == b[4] and a[5] == b[5]


@pytest.mark.parametrize("through_file", [False, True])
def test_rng_round_trip_is_bit_identical(tmp_path: Path, through_file: bool) -> None:
    generator = torch.Generator().manual_seed(123)
    # Leave a cached Gaussian in numpy and python so the cache is part of the state too.
    np.random.standard_normal(1)
    random.gauss(0.0, 1.0)
    state = capture_rng_state(generator)
    first = _draw(generator)
    second = _draw(generator)
    assert not torch.equal(first[0], second[0])  # the streams really advanced

    if through_file:
        save_checkpoint(tmp_path / "ck", {"w": torch.ones(2), **state}, {"step": 1})
        state, _ = load_checkpoint(tmp_path / "ck")
    restore_rng_state(state, generator)
    _assert_same_draws(first, _draw(generator))


def test_restore_checks_generator_count_before_touching_anything() -> None:
    generator = torch.Generator().manual_seed(0)
    state = capture_rng_state(generator)
    before = torch.get_rng_state()
    torch.rand(3)
    with pytest.raises(CheckpointError, match="holds 1 torch.Generator state"):
        restore_rng_state(state)
    assert not torch.equal(torch.get_rng_state(), before)  # CPU state was not restored either


def test_restore_rejects_damaged_state() -> None:
    state = capture_rng_state()
    state["rng.numpy.key"] = state["rng.numpy.key"][:10]
    with pytest.raises(CheckpointError, match=r"'rng.numpy.key' is int64 \(10,\) where int64 \(624,\) was expected"):
        restore_rng_state(state)
    fresh = capture_rng_state()
    del fresh["rng.python.internal"]
    with pytest.raises(CheckpointError, match="'rng.python.internal' is missing"):
        restore_rng_state(fresh)
