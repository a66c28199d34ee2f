"""What the benchmark commands share: the GGUF model they run by default, the --model argument,
the --quick/--json switches, the offline setup, and print_report, which runs a benchmark and
prints its report (engine/bench/common.py's Report) as a table or JSON.

The leading underscore keeps this module out of the subcommands `build_parser` registers."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_MODEL = Path("var/models/SmolLM2-135M-Instruct.Q4_1.gguf")


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help=f"GGUF file (default {DEFAULT_MODEL})")


def add_quick_and_json(parser: argparse.ArgumentParser, quick_help: str | None = None) -> None:
    """--json, and --quick where the benchmark has a quick form (quick_help says what it runs)."""
    if quick_help:
        parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")


def fail(command: str, message: object) -> int:
    """Say what went wrong in one line on stderr; the exit code 2."""
    print(f"airlock {command}: {message}", file=sys.stderr)
    return 2


def progress(command: str) -> Callable[[str], None]:
    """A benchmark's progress lines, on stderr so that stdout stays the report."""
    return lambda line: print(f"airlock {command}: {line}", file=sys.stderr, flush=True)


def print_report(command: str, measure: Callable[[], Any], as_json: bool = False, save_json: str | None = None,
                 errors: tuple[type[BaseException], ...] = ()) -> int:
    """Run `measure` and print the report it returns: JSON with `as_json`, else the table; also
    write the JSON to `save_json` when given. A ValueError, OSError or EngineError (or one of
    `errors`) is one line on stderr and exit code 2; a report whose `ok` is False exits 1."""
    from engine.errors import EngineError

    try:
        report = measure()
    except (ValueError, OSError, EngineError, *errors) as exc:
        return fail(command, exc)
    print(report.to_json() if as_json else report.to_table())
    if save_json:
        Path(save_json).write_text(report.to_json())
    return 0 if getattr(report, "ok", True) else 1


def prepare_to_load(command: str, model: Path) -> bool:
    """False, having said so on stderr, when the model file is missing. Otherwise keeps Hugging
    Face offline and the GGUF loader's progress bar quiet (the benchmarks print their own)."""
    if not model.exists():
        fail(command, f"model file {model} does not exist")
        return False
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    return True


def quiet_transformers() -> None:
    """transformers' warnings and progress bars off: the report is the output."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
