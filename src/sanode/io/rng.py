"""Every random stream a run draws from, captured as plain tensors and restored bit for bit.

:func:`capture_rng_state` / :func:`restore_rng_state` turn every random number generator a run
draws from (torch CPU and CUDA, numpy's global generator, python's ``random`` and any
``torch.Generator``) into plain integer / float tensors under keys ``rng.*``, so the RNG state
travels inside the same checkpoint (:mod:`sanode.io.checkpoint`) and a resumed run continues
bit-identically.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from sanode.io.errors import CheckpointError, CheckpointWarning
from sanode.io.manifest import dtype_name, shape_text

__all__ = ["RNG_PREFIX", "capture_rng_state", "restore_rng_state"]

RNG_PREFIX = "rng."
"""Every key written by :func:`capture_rng_state` starts with this, so the state can be
merged into a checkpoint's tensors without clashing with parameter names."""

_MT_WORDS = 624  # Mersenne Twister MT19937 state: 624 32-bit words (numpy and python)


def capture_rng_state(*generators: torch.Generator) -> dict[str, Tensor]:
    """Snapshot every random stream a run draws from, as plain tensors (keys ``rng.*``).

    Captured: torch's CPU generator, every CUDA device's generator (when CUDA is
    available), numpy's global ``RandomState`` (MT19937 key, position and cached
    Gaussian), python's ``random`` (MT19937 words, position and cached Gaussian), and each
    ``torch.Generator`` passed, in order. Integers are stored exactly in int64 and cached
    Gaussians in float64, so :func:`restore_rng_state` reproduces the streams bit for bit.

    Args:
        *generators: explicit ``torch.Generator`` objects the run uses (e.g. the one
            driving the data loader or the SDE noise).

    Returns:
        name → tensor, ready to merge into the tensors of :func:`save_checkpoint`.
    """
    for i, generator in enumerate(generators):
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator #{i} is a {type(generator).__name__}, not a torch.Generator")
    state: dict[str, Tensor] = {f"{RNG_PREFIX}torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            state[f"{RNG_PREFIX}torch_cuda.{i}"] = cuda_state.cpu()
    _, key, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state[f"{RNG_PREFIX}numpy.key"] = torch.from_numpy(np.asarray(key, dtype=np.int64).copy())
    state[f"{RNG_PREFIX}numpy.pos_has_gauss"] = torch.tensor([int(pos), int(has_gauss)], dtype=torch.int64)
    state[f"{RNG_PREFIX}numpy.gauss"] = torch.tensor([float(cached_gaussian)], dtype=torch.float64)
    version, internal, gauss_next = random.getstate()
    state[f"{RNG_PREFIX}python.internal"] = torch.tensor(internal, dtype=torch.int64)
    state[f"{RNG_PREFIX}python.version_has_gauss"] = torch.tensor([int(version), int(gauss_next is not None)], dtype=torch.int64)
    state[f"{RNG_PREFIX}python.gauss"] = torch.tensor([0.0 if gauss_next is None else float(gauss_next)], dtype=torch.float64)
    for i, generator in enumerate(generators):
        state[f"{RNG_PREFIX}generator.{i}"] = generator.get_state()
    return state


def _rng_entry(state: Mapping[str, Tensor], key: str, dtype: torch.dtype, shape: tuple[int, ...]) -> Tensor:
    name = RNG_PREFIX + key
    if name not in state:
        raise CheckpointError(f"RNG state {name!r} is missing; was this state made by capture_rng_state?")
    tensor = state[name]
    if not isinstance(tensor, Tensor):
        raise CheckpointError(f"RNG state {name!r} is a {type(tensor).__name__}, not a tensor")
    if tensor.dtype != dtype or tuple(tensor.shape) != shape:
        raise CheckpointError(
            f"RNG state {name!r} is {dtype_name(tensor.dtype)} {shape_text(tensor.shape)} where "
            f"{dtype_name(dtype)} {shape_text(shape)} was expected"
        )
    return tensor.detach().cpu()


def _count_indexed(state: Mapping[str, Tensor], key: str) -> int:
    count = 0
    while f"{RNG_PREFIX}{key}.{count}" in state:
        count += 1
    return count


def _in_uint32(tensor: Tensor, name: str) -> None:
    if tensor.numel() and (int(tensor.min()) < 0 or int(tensor.max()) > 0xFFFFFFFF):
        raise CheckpointError(f"RNG state {RNG_PREFIX + name!r} holds values outside the 32-bit range of MT19937")


def restore_rng_state(state: Mapping[str, Tensor], *generators: torch.Generator) -> None:
    """Put every random stream back where :func:`capture_rng_state` found it.

    Everything is checked before anything is changed, so a malformed state leaves all
    generators untouched. Keys not starting with ``rng.`` are ignored, so the full tensor
    dict of a loaded checkpoint can be passed.

    Args:
        state: the dict from :func:`capture_rng_state` (or a checkpoint holding it).
        *generators: the same ``torch.Generator`` objects, in the same order, as captured.

    Raises:
        CheckpointError: a state entry is missing or has the wrong dtype/shape/range, or the
            number of generators differs from the number captured.

    Warns:
        CheckpointWarning: CUDA states were captured but this machine has a different
            number of CUDA devices; CUDA streams then do not continue identically.
    """
    if not isinstance(state, Mapping):
        raise ValueError(f"state must be the mapping from capture_rng_state, got {type(state).__name__}")
    n_saved = _count_indexed(state, "generator")
    if n_saved != len(generators):
        raise CheckpointError(
            f"the RNG state holds {n_saved} torch.Generator state(s) but {len(generators)} generator(s) were "
            "passed; pass the same generators, in the same order, as to capture_rng_state"
        )
    cpu = _rng_entry(state, "torch_cpu", torch.uint8, tuple(torch.get_rng_state().shape))
    generator_states = []
    for i, generator in enumerate(generators):
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator #{i} is a {type(generator).__name__}, not a torch.Generator")
        generator_states.append(_rng_entry(state, f"generator.{i}", torch.uint8, tuple(generator.get_state().shape)))
    np_key = _rng_entry(state, "numpy.key", torch.int64, (_MT_WORDS,))
    _in_uint32(np_key, "numpy.key")
    np_pos, np_has_gauss = _rng_entry(state, "numpy.pos_has_gauss", torch.int64, (2,)).tolist()
    np_gauss = float(_rng_entry(state, "numpy.gauss", torch.float64, (1,))[0])
    py_internal = _rng_entry(state, "python.internal", torch.int64, (_MT_WORDS + 1,))
    _in_uint32(py_internal, "python.internal")
    py_version, py_has_gauss = _rng_entry(state, "python.version_has_gauss", torch.int64, (2,)).tolist()
    py_gauss = float(_rng_entry(state, "python.gauss", torch.float64, (1,))[0])
    n_cuda = _count_indexed(state, "torch_cuda")
    cuda_states = [state[f"{RNG_PREFIX}torch_cuda.{i}"].detach().cpu() for i in range(n_cuda)]

    torch.set_rng_state(cpu)
    for generator, generator_state in zip(generators, generator_states, strict=True):
        generator.set_state(generator_state)
    np.random.set_state(("MT19937", np_key.numpy().astype(np.uint32), int(np_pos), int(np_has_gauss), np_gauss))
    random.setstate((int(py_version), tuple(py_internal.tolist()), py_gauss if py_has_gauss else None))
    if n_cuda:
        available = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if available == n_cuda:
            torch.cuda.set_rng_state_all(cuda_states)
        else:
            warnings.warn(
                f"the RNG state holds {n_cuda} CUDA generator state(s) but this machine has {available} CUDA "
                "device(s); CUDA random streams will not continue identically",
                CheckpointWarning,
                stacklevel=2,
            )
