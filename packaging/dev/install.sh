#!/usr/bin/env bash
# Creates .venv and installs Airlock with its test tools.
# torch: the CUDA build where an NVIDIA GPU is present, the CPU build otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}

# The fleet and ledger tests run a real HAProxy and PostgreSQL (Debian packages). Best effort:
# only as root with apt-get, quietly, and never failing the install (the tests skip, saying why).
apt_install_missing() {   # apt_install_missing <command or path> <package>
    if command -v "$1" >/dev/null 2>&1 || [ -e "$1" ]; then return 0; fi
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 0
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -qq "$2" || { apt-get update -qq && apt-get install -y -qq "$2"; }; } >/dev/null 2>&1 \
        || echo "could not install $2 with apt-get: its tests will be skipped"
}
apt_install_missing haproxy haproxy
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install_missing initdb postgresql
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
