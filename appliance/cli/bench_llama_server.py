"""`airlock bench-llama-server`: Airlock and llama.cpp's llama-server side by side through the
same openai-client load generator: 1, 32 and 128 streams and a context probe, same GGUF file."""
from __future__ import annotations

import argparse
import signal
import threading

from appliance.cli._bench import add_model_argument, add_quick_and_json, fail, prepare_to_load, print_report, progress

PRECISIONS = ("fp32", "bf16", "int8")
COMMAND = "bench-llama-server"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(COMMAND, help="Airlock against llama.cpp's llama-server, same GGUF file, same "
                                                 "openai-client load (1, 32, 128 streams; context probe)")
    add_model_argument(parser)
    parser.add_argument("--llama-server", help="the llama-server binary (default: llama-server on PATH)")
    parser.add_argument("--precisions", default="bf16,int8", help="Airlock's precisions, comma-separated")
    parser.add_argument("--streams", default="1,32,128", help="concurrent streams per load, comma-separated")
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens each request generates (EOS ignored)")
    parser.add_argument("--threads", type=int, default=2, help="compute threads for each system")
    parser.add_argument("--context-probe", action=argparse.BooleanOptionalAction, default=True,
                        help="one stream's ITL at ~40 and ~1,600 tokens of context (default on)")
    add_quick_and_json(parser, "1 and 4 streams of 8 tokens, the probe at ~40 and ~400 tokens")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        precisions = _names(args.precisions)
        streams = tuple(int(s) for s in _names(args.streams))
    except ValueError:
        return fail(COMMAND, f"--streams must be comma-separated integers, got {args.streams!r}")
    if not precisions or any(p not in PRECISIONS for p in precisions):
        return fail(COMMAND, f"precisions must be among {', '.join(PRECISIONS)}")
    from appliance.bench.llama_server import find_llama_server

    try:
        binary = find_llama_server(args.llama_server)
    except ValueError as exc:
        return fail(COMMAND, exc)
    if args.model.suffix.lower() != ".gguf":
        return fail(COMMAND, f"{args.model} is not a GGUF file, which llama-server needs")
    if not prepare_to_load(COMMAND, args.model):
        return 2
    from appliance.bench.vs_llama_server import SideBySideConfig, run_side_by_side

    try:
        config = SideBySideConfig(binary, args.model, precisions, streams, args.max_tokens, args.context_probe,
                                  threads=args.threads)
    except ValueError as exc:
        return fail(COMMAND, exc)
    config = config.quick() if args.quick else config
    _stop_on_sigterm()
    try:
        return print_report(COMMAND, lambda: run_side_by_side(config, progress(COMMAND)), args.json,
                            errors=(RuntimeError,))  # a load generator process that died (BrokenProcessPool)
    except KeyboardInterrupt:
        fail(COMMAND, "interrupted; llama-server and the served appliance are stopped")
        return 130


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so llama-server and the served appliance are stopped."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
