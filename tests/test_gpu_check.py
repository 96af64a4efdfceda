"""benchmarks/gpu_check.sh refuses clearly, not silently, on a machine without CUDA."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"


def test_gpu_check_exists_and_is_executable():
    assert SCRIPT.is_file() and os.access(SCRIPT, os.X_OK)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present; the refusal cannot be tested here")
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gpu_check_refuses_without_cuda(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_OUT": str(tmp_path / "out")}
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 3
    assert "no CUDA device" in done.stderr
    assert done.stdout == ""  # no JSON line that could be mistaken for a result
    assert not (tmp_path / "out").exists()  # nothing was run
