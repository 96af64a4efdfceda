# TEMP-SHIM: moved to sanode.io.load
from sanode.io.load import *  # noqa: F401,F403
from sanode.io.load import load_model  # noqa: F401
