"""The soak's checks fail on what they are meant to catch: plain attempts and ledger rows, no
server (tests/soak/test_soak.py runs them against a real one)."""
from __future__ import annotations

from appliance.bench.soak.checks import (Observed, budget_held, evaluate, ledger_by_id, ledger_embeddings,
                                   no_server_error, tokens_billed)
from appliance.bench.soak.ledger_rows import LedgerRow
from appliance.bench.soak.tally import Attempt

KILL = 100.0


def _seen(rows: list[LedgerRow]) -> Observed:
    return Observed(kill_at=KILL, back_at=KILL + 20, loss_window=2.0, budget=100, idle={}, rss_first=1,
                    rss_last=1, rss_baseline_s=20, flood=(0, 0, 0), stop_code=0, dead_letter=0, rows=rows)


def _chat(rid: str, started: float, ended: float, kind: str = "chat", tokens: tuple[int, int] = (10, 5)) -> Attempt:
    return Attempt(kind, kind, started, ended, 200, True, True, False, (rid,), *tokens)


def _row(rid: str, tokens: tuple[int, int] = (10, 5), key: str = "chat", endpoint: str = "chat") -> LedgerRow:
    return LedgerRow(rid, key, endpoint, *tokens, "stop")


def test_a_row_lost_long_before_the_kill_fails_and_one_lost_at_the_kill_passes() -> None:
    early, late = _chat("a", 10, 11), _chat("b", 98, 99.5)
    assert ledger_by_id([early, late], _seen([_row("a")])).ok                # b finished in the loss window
    assert not ledger_by_id([early, late], _seen([_row("b")])).ok            # a finished 89 s before it


def test_a_row_nobody_asked_for_fails() -> None:
    assert not ledger_by_id([_chat("a", 10, 11)], _seen([_row("a"), _row("ghost")])).ok


def test_embedding_rows_are_counted() -> None:
    embeds = [Attempt("embed", "embed", 10, 11, 200, True, True, prompt_tokens=9) for _ in range(3)]
    rows = [_row(f"emb-{i}", (9, 0), "embed", "embeddings") for i in range(2)]
    assert not ledger_embeddings(embeds, _seen(rows)).ok
    assert ledger_embeddings(embeds, _seen(rows + [_row("emb-2", (9, 0), "embed", "embeddings")])).ok


def test_tokens_billed_must_equal_the_usage_delivered() -> None:
    attempts = [_chat("a", 10, 11, tokens=(10, 5))]
    assert tokens_billed(attempts, _seen([_row("a", (10, 5))])).ok
    assert not tokens_billed(attempts, _seen([_row("a", (10, 6))])).ok


def test_a_budget_overshoot_or_no_refusal_fails() -> None:
    spent = [_chat("a", 10, 11, "budget", (60, 30)), Attempt("budget", "budget", 12, 13, 429)]
    assert budget_held(spent, _seen([_row("a", (60, 30), "budget")])).ok
    assert not budget_held(spent, _seen([_row("a", (60, 50), "budget")])).ok   # 110 billed > 100
    assert not budget_held(spent[:1], _seen([_row("a", (60, 30), "budget")])).ok   # never refused


def test_a_500_or_a_time_out_fails() -> None:
    assert no_server_error([Attempt("bad", "bad", 1, 2, 422)]).ok
    assert not no_server_error([Attempt("bad", "bad", 1, 2, 500)]).ok
    assert not no_server_error([Attempt("chat", "chat", 1, 2, None, cut=True, error_code="timeout")]).ok


def test_every_check_fails_on_an_empty_run() -> None:
    seen = _seen([])
    seen.idle = {"running": 0, "waiting": 0, "blocks_used": 3}
    failed = {c.name for c in evaluate([], [], seen) if not c.ok}
    assert {"KV blocks back to idle", "/health p99 under load", "token budget never exceeded",
            "bad inputs answered 4xx", "disconnected streams billed as abort"} <= failed


def test_an_error_in_the_server_log_fails() -> None:
    from appliance.bench.soak.checks import quiet_log

    seen = _seen([])
    assert quiet_log(seen).ok
    seen.log_errors = ["ValueError: boom"]
    assert not quiet_log(seen).ok


def test_the_log_reader_finds_error_lines_and_tracebacks(tmp_path) -> None:
    from pathlib import Path

    from appliance.bench.soak.server import ServedProcess

    (tmp_path / "serve.log").write_text("2026 INFO airlock: fine\nTraceback (most recent call last):\n"
                                        '  File "x.py", line 1\nKeyError: \'model\'\n2026 ERROR airlock.api: bad\n')
    errors = ServedProcess(tmp_path, Path("m.gguf"), "token", port=1).log_errors()
    assert errors == ["2026 ERROR airlock.api: bad", "KeyError: 'model'"]
