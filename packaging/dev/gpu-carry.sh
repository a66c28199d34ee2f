#!/usr/bin/env bash
# Prepares what the GPU check carries to a machine with no registry, in .gpu-carry/ (git-ignored):
#   wheels/     what Airlock needs beyond the GPU image's packages (packaging/dev/gpu-image-packages.txt),
#               for that machine's Python (3.12, manylinux x86_64)
#   tokenizer/  SmolLM2's tokenizer files, taken from the GGUF file (the weights do not travel)
# Then checks that the travelling tree stays under the 64 MiB a device call carries.
set -euo pipefail
cd "$(dirname "$0")/../.."
CARRY=.gpu-carry
PY=${PY:-.venv/bin/python}
rm -rf "$CARRY" && mkdir -p "$CARRY/wheels" "$CARRY/tokenizer"
# Airlock's own runtime dependencies that the image lacks (their dependencies are there already).
# bitsandbytes (about 43 MB) is the int8/nf4 path on CUDA; it fits with the rest.
WHEELS="flask waitress sqlalchemy alembic mako itsdangerous blinker gguf greenlet bitsandbytes"
$PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 \
    -d "$CARRY/wheels" $WHEELS 2>&1 | grep -v "^WARNING: Location" || true
$PY - "$CARRY/tokenizer" <<'PY'
import sys
from transformers import AutoTokenizer
gguf = "var/models/SmolLM2-135M-Instruct.Q4_1.gguf"
AutoTokenizer.from_pretrained("var/models", gguf_file=gguf.split("/")[-1]).save_pretrained(sys.argv[1])
PY
TREE=$( (git ls-files; git ls-files --others --exclude-standard) | xargs -d '\n' du -cb 2>/dev/null | tail -1 | cut -f1)
CARRIED=$(du -sb "$CARRY" | cut -f1)
TOTAL=$((TREE + CARRIED))
echo "working tree $((TREE / 1024)) KiB + $CARRY $((CARRIED / 1024)) KiB = $((TOTAL / 1048576)) MiB (limit 64 MiB)"
[ "$TOTAL" -lt $((64 * 1048576)) ] || { echo "too large to travel: drop a wheel (bitsandbytes is the largest)"; exit 1; }

# Dry run of the install over there: a fresh Python 3.12 venv takes every carried wheel offline,
# and every requirement of a carried wheel is either carried or already in the GPU image.
PY312=${PY312:-}
for candidate in python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
    [ -z "$PY312" ] && "$candidate" -c "" 2>/dev/null && PY312=$candidate
done
if [ -n "$PY312" ]; then
    DRY=$(mktemp -d); trap 'rm -rf "$DRY"' EXIT
    "$PY312" -m venv "$DRY/venv"
    "$DRY/venv/bin/python" -m pip install -q --no-index --no-deps "$CARRY"/wheels/*.whl
    $PY - "$CARRY/wheels" packaging/dev/gpu-image-packages.txt <<'PY'
import sys, zipfile
from email.parser import Parser
from pathlib import Path
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

THERE = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
         "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
         "platform_python_implementation": "CPython", "os_name": "posix", "extra": ""}
image = {canonicalize_name(w) for line in Path(sys.argv[2]).read_text().splitlines()
         if not line.startswith("#") for w in line.split()}
metas = []
for wheel in sorted(Path(sys.argv[1]).glob("*.whl")):
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        metas.append(Parser().parsestr(z.read(name).decode()))
carried = {canonicalize_name(m["Name"]) for m in metas}
missing = [f"{m['Name']} needs {r.name}" for m in metas for r in map(Requirement, m.get_all("Requires-Dist") or [])
           if (r.marker is None or r.marker.evaluate(THERE))
           and canonicalize_name(r.name) not in carried | image]
print(f"{len(metas)} wheels installed offline into a fresh Python 3.12 venv")
if missing:
    sys.exit("not carried and not in the GPU image: " + "; ".join(missing))
print("every requirement is carried or in the GPU image")
PY
else
    echo "no python3.12 here: the offline install dry run was skipped"
fi
