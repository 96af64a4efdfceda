# TEMP-SHIM: moved to sanode.io.checkpoint
# (atomic writes: sanode.io.atomic; RNG state: sanode.io.rng; errors: sanode.io.errors)
from sanode.io.atomic import *  # noqa: F401,F403
from sanode.io.atomic import atomic_write_bytes, atomic_write_text, fsync_dir  # noqa: F401
from sanode.io.checkpoint import *  # noqa: F401,F403
from sanode.io.checkpoint import (  # noqa: F401
    FORMAT_NAME,
    FORMAT_VERSION,
    PREVIOUS_SUFFIX,
    CheckpointError,
    CheckpointWarning,
    checkpoint_paths,
    load_checkpoint,
    save_checkpoint,
)
from sanode.io.rng import *  # noqa: F401,F403
from sanode.io.rng import RNG_PREFIX, capture_rng_state, restore_rng_state  # noqa: F401
