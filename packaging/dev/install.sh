#!/usr/bin/env bash
# Creates .venv and installs Airlock with its test tools.
# torch: the CUDA build where an NVIDIA GPU is present, the CPU build otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    $PIP install -q "torch>=2.9"
    EXTRAS="test,cuda"
else
    # 2.13.0 is the CPU build this site mirrors; any CPU build >= 2.9 works.
    $PIP install -q "torch==2.13.0" || $PIP install -q "torch>=2.9" --index-url "${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
    EXTRAS="test"
fi
$PIP install -q -e ".[$EXTRAS]"
.venv/bin/airlock kernels || echo "CPU kernels not built: the engine will use its torch path"
