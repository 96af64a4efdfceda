# TEMP-SHIM: moved to sanode.io.rundir
from sanode.io.rundir import *  # noqa: F401,F403
from sanode.io.rundir import RunDir, load_optimizer, optimizer_tensors  # noqa: F401
