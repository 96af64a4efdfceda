#!/usr/bin/env bash
# The GPU path, proven on a GPU (issue 19, item 5). On a CUDA machine, from the repository root:
#
#     benchmarks/gpu_check.sh                # PYTHON=/path/to/python to choose the interpreter
#
# 1. the CUDA-only tests (tests/test_compiled.py and tests/test_distributed.py, -k cuda);
# 2. benchmarks/train_step.py --device cuda: N = 784 and N = 3072 (samples/s, peak GPU memory,
#    fused vs plain vs torch.compile), and paper 1's spectral vs projector optimiser step;
# 3. a 2-minute MNIST training: sanode train --config fast-mnist --device cuda
#    --set train.time_budget_s=120 (MNIST from SANODE_DATA or ../shared/data, see sanode.data.locate).
#
# Every stage's output goes to $GPU_CHECK_OUT (default: a fresh temporary directory); the last
# line of stdout is one JSON object with each stage's exit status and figures. The exit status
# is 0 only if every stage passed. Without a CUDA device it refuses at once, with exit status 3
# and a message on stderr: a CPU run of these checks would prove nothing.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check.sh: no CUDA device on this machine (torch.cuda.is_available() is False)." >&2
    echo "gpu_check.sh: it checks the CUDA path and must run on a CUDA machine; nothing was run." >&2
    exit 3
fi

OUT=${GPU_CHECK_OUT:-$(mktemp -d -t sanode-gpu-check.XXXXXX)}
mkdir -p "$OUT"
echo "gpu_check.sh: writing to $OUT" >&2

"$PY" -m pytest -q -p no:cacheprovider -rs -k cuda tests/test_compiled.py tests/test_distributed.py \
    > "$OUT/tests.txt" 2>&1
tests_rc=$?

"$PY" benchmarks/train_step.py --device cuda --reps 5 > "$OUT/train_step.json" 2> "$OUT/train_step.err"
bench_rc=$?

"$PY" -m sanode train --config fast-mnist --device cuda --set train.time_budget_s=120 --quiet --json \
    --run-dir "$OUT/fast-mnist-cuda" > "$OUT/train.json" 2> "$OUT/train.err"
train_rc=$?

"$PY" - "$OUT" "$tests_rc" "$bench_rc" "$train_rc" <<'EOF'
import json, sys
from pathlib import Path

import torch

out, tests_rc, bench_rc, train_rc = Path(sys.argv[1]), *map(int, sys.argv[2:])


def last_json(path):
    try:
        return json.loads(path.read_text().strip().splitlines()[-1])
    except (OSError, IndexError, ValueError):
        return None


tests_tail = (out / "tests.txt").read_text().strip().splitlines()[-1:] if (out / "tests.txt").exists() else []
bench = last_json(out / "train_step.json") or {}
summary = {
    "device": torch.cuda.get_device_name(),
    "torch": torch.__version__,
    "out": str(out),
    "tests": {"rc": tests_rc, "summary": tests_tail[0] if tests_tail else None},
    "train_step": {
        "rc": bench_rc,
        **{key: {k: bench[key].get(k) for k in ("samples_per_s", "peak_gpu_memory_mib", "ratios")} for key in ("N784", "N3072") if key in bench},
        "paper1": bench.get("paper1", {}).get("ratios"),
        "targets": bench.get("targets"),
    },
    "train": {"rc": train_rc, "result": last_json(out / "train.json")},
    "ok": tests_rc == 0 and bench_rc == 0 and train_rc == 0,
}
print(json.dumps(summary))
sys.exit(0 if summary["ok"] else 1)
EOF
