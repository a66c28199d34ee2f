#!/usr/bin/env bash
# The GPU check, in one command on the GPU test machine (no registry there). Run
# packaging/dev/gpu-carry.sh here first, then, with the device tool carrying .gpu-carry:
#   bash packaging/dev/gpu-check.sh
# It installs the carried wheels offline into a venv over the image's Python, then runs the
# CUDA tests and the check program (greedy equality, planner, decode step against the bandwidth
# floor at c1/c32/c128 for SmolLM2's shape and an 8B shape, NVML). Everything lands in $OUT (default ./gpu-out).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-check.log") 2>&1
VENV=/tmp/airlock-gpu
python3 -m venv --system-site-packages "$VENV"
"$VENV/bin/python" -m pip install -q --no-index --no-deps .gpu-carry/wheels/*.whl
"$VENV/bin/python" -m pip install -q --no-index --no-deps --no-build-isolation -e .
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH=$PWD
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
STATUS=0
# the CUDA tests (the files holding them: the others import what the check does not carry);
# those that need a GGUF model file fail here, since weights do not travel: gpu_check.py covers them
timeout 60 "$VENV/bin/python" -m pytest -m cuda -q -p no:cacheprovider \
    $(grep -rl "mark.cuda" tests --include='test_*.py') 2>&1 | tail -30 || STATUS=1
timeout 400 "$VENV/bin/python" packaging/dev/gpu_check.py --tokenizer .gpu-carry/tokenizer --out "$OUT" || STATUS=1
exit $STATUS
