"""What the benchmark commands share: the GGUF model they run by default and, for the in-process
engine benchmarks, the --model argument, the --quick/--json switches and the offline setup.

The leading underscore keeps this module out of the subcommands `build_parser` registers."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_MODEL = Path("var/models/SmolLM2-135M-Instruct.Q4_1.gguf")


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help=f"GGUF file (default {DEFAULT_MODEL})")


def add_quick_and_json(parser: argparse.ArgumentParser, quick_help: str) -> None:
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")


def prepare_to_load(command: str, model: Path) -> bool:
    """False, having said so on stderr, when the model file is missing. Otherwise keeps Hugging
    Face offline and the GGUF loader's progress bar quiet (the benchmarks print their own)."""
    if not model.exists():
        print(f"airlock {command}: model file {model} does not exist", file=sys.stderr)
        return False
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    return True
