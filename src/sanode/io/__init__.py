"""Files a run reads and writes: atomic writes, checkpoints, RNG state, run directories.

Layers, bottom up (each module imports only those before it):

* :mod:`sanode.io.atomic` — crash-safe file writes (temp file → fsync → rename → fsync dir);
  the only part the data layer uses.
* :mod:`sanode.io.errors` — the exception types a caller can catch.
* :mod:`sanode.io.manifest` — a checkpoint's JSON record: format, tensor manifest, verification.
* :mod:`sanode.io.checkpoint` — the two-file checkpoint transaction (save / load, ``.prev`` recovery).
* :mod:`sanode.io.rng` — capture / restore every random stream as tensors.
* :mod:`sanode.io.rundir` — the layout of a run directory (config, metrics, checkpoint, results).
* :mod:`sanode.io.load` — rebuild a trained classifier from a run directory. It builds a model, so
  it sits above the model layer (it needs :mod:`sanode.build`).

Nothing is imported here, so that importing :mod:`sanode.io.atomic` (as the data layer does) does
not pull in the checkpoint format, safetensors or the model: import from the submodules.
"""
