"""The soak's verdicts: each a Check with the measured value, its bound and pass or fail.

Bounds, and why:
- ledger = accepted: every request the server admitted (a 200, or a stream's first chunk) has
  its row(s), matched by request id (a batch: one row per prompt), and no row is unknown.
  The only exception is the kill -9: appliance/ledger/writer.py may lose the rows queued since
  its last committed batch, so a request may lack its row only if it was in flight at the kill
  or finished within `loss_window` (the flush interval plus one write) before it. Embeddings
  carry no id in the response, so they are matched by count under the same exception.
- tokens billed = tokens delivered: for every completed request, its rows' prompt and
  completion tokens equal the usage its response reported.
- budget: the budget key's billed and delivered tokens never exceed its token_budget, and it
  was refused with 429 at least once (else nothing was tested).
- KV idle: once the traffic stops, no sequence runs or waits and no KV block is held.
- RSS: growth of the server's VmRSS between the baseline sample and the end under 5%.
- /health: p99 latency of the polls while the server was up (the connection flood included)
  under HEALTH_P99_S, and none of them failed.
- no 5xx and no client time-out, no traceback or ERROR line in the server's log (an exception
  after a stream's 200 shows only there), bad inputs answered with 4xx, disconnected streams billed as
  "abort", graceful stop with exit code 0 and an empty dead-letter file.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from appliance.bench.soak.ledger_rows import LedgerRow
from appliance.bench.soak.tally import Attempt, HealthPoll

RSS_GROWTH_MAX = 0.05
HEALTH_P99_S = 2.0


@dataclass(slots=True, frozen=True)
class Check:
    name: str
    value: str
    bound: str
    ok: bool
    detail: str = ""


@dataclass(slots=True)
class Observed:
    """What the runner saw besides the client tally; times are time.monotonic()."""
    kill_at: float
    back_at: float                    # the restarted server answered /ready
    loss_window: float                # seconds before the kill whose rows may be lost
    budget: int
    idle: dict                        # running, waiting, blocks_used after the traffic
    rss_first: int
    rss_last: int
    rss_baseline_s: float             # seconds after the restart the baseline was taken
    flood: tuple[float, float, int]   # start, end, connections held
    stop_code: int
    dead_letter: int
    rows: list[LedgerRow] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)   # tracebacks and ERROR lines of serve.log

    def at_risk(self, attempt: Attempt) -> bool:
        """In flight at the kill, or finished within the loss window before it."""
        return attempt.started <= self.kill_at and attempt.ended >= self.kill_at - self.loss_window


def ledger_by_id(attempts: list[Attempt], seen: Observed) -> Check:
    expected = {i: a for a in attempts if a.accepted and a.kind != "embed" for i in a.ids}
    rows = {r.request_id for r in seen.rows if r.endpoint != "embeddings"}
    missing = [i for i in expected if i not in rows]
    outside = [i for i in missing if not seen.at_risk(expected[i])]
    risky = sum(1 for a in expected.values() if seen.at_risk(a))
    unseen = sum(1 for a in attempts if a.kind != "embed" and not a.ids and a.cut and seen.at_risk(a))
    unknown = rows - set(expected)
    ok = not outside and len(unknown) <= unseen
    return Check("ledger rows = accepted (by id)", f"{len(rows)} / {len(expected)}, {len(missing)} lost at kill",
                 f"lost <= {risky} at kill, unknown <= {unseen}", ok,
                 "" if ok else f"lost outside the kill window: {outside[:5]}; unknown rows: {sorted(unknown)[:5]}")


def ledger_embeddings(attempts: list[Attempt], seen: Observed) -> Check:
    accepted = [a for a in attempts if a.kind == "embed" and a.accepted]
    risky = sum(1 for a in accepted if seen.at_risk(a))
    cut = sum(1 for a in attempts if a.kind == "embed" and a.cut and seen.at_risk(a))
    rows = sum(1 for r in seen.rows if r.endpoint == "embeddings")
    ok = len(accepted) - risky <= rows <= len(accepted) + cut
    return Check("ledger rows = accepted (embeddings)", f"{rows} / {len(accepted)}",
                 f"{len(accepted) - risky}..{len(accepted) + cut}", ok)


def tokens_billed(attempts: list[Attempt], seen: Observed) -> Check:
    rows = {r.request_id: r for r in seen.rows}
    done = [a for a in attempts if a.completed and a.ids and all(i in rows for i in a.ids)]
    wrong = [a for a in done if (sum(rows[i].prompt_tokens for i in a.ids), sum(rows[i].completion_tokens
                                 for i in a.ids)) != (a.prompt_tokens, a.completion_tokens)]
    embeds = {a.prompt_tokens for a in attempts if a.kind == "embed" and a.completed}
    billed = {r.prompt_tokens for r in seen.rows if r.endpoint == "embeddings"}
    ok = not wrong and billed <= embeds
    return Check("tokens billed = delivered", f"{len(done) - len(wrong)} / {len(done)} requests", "all", ok,
                 "" if ok else f"mismatched: {[a.ids for a in wrong[:5]]}; embedding rows bill {billed}, "
                               f"responses said {embeds}")


def budget_held(attempts: list[Attempt], seen: Observed) -> Check:
    billed = sum(r.prompt_tokens + r.completion_tokens for r in seen.rows if r.key_name == "budget")
    delivered = sum(a.prompt_tokens + a.completion_tokens for a in attempts if a.kind == "budget" and a.completed)
    refused = sum(1 for a in attempts if a.kind == "budget" and a.status == 429)
    ok = max(billed, delivered) <= seen.budget and refused > 0
    return Check("token budget never exceeded", f"billed {billed}, delivered {delivered}, {refused} x 429",
                 f"<= {seen.budget}, some 429", ok)


def kv_idle(seen: Observed) -> Check:
    idle = seen.idle
    ok = idle.get("running") == 0 and idle.get("waiting") == 0 and idle.get("blocks_used") == 0
    return Check("KV blocks back to idle", f"running {idle.get('running')}, waiting {idle.get('waiting')}, "
                 f"blocks used {idle.get('blocks_used')}", "0, 0, 0", ok)


def rss_growth(seen: Observed) -> Check:
    growth = (seen.rss_last - seen.rss_first) / seen.rss_first
    mib = 1024 ** 2
    return Check("server RSS growth", f"{growth:+.1%} ({seen.rss_first / mib:.0f} -> {seen.rss_last / mib:.0f} MiB, "
                 f"from {seen.rss_baseline_s:.0f} s after restart)", f"< {RSS_GROWTH_MAX:.0%}", growth < RSS_GROWTH_MAX)


def health_latency(polls: list[HealthPoll], seen: Observed) -> Check:
    up = [p for p in polls if not (p.at <= seen.back_at and p.at + p.seconds >= seen.kill_at)]
    failed = sum(1 for p in up if not p.ok)
    flood_start, flood_end, held = seen.flood
    during = [p.seconds for p in up if flood_start <= p.at <= flood_end]
    ok = bool(up) and p99([p.seconds for p in up]) < HEALTH_P99_S and failed == 0 and bool(during)
    return Check("/health p99 under load", f"{p99([p.seconds for p in up]) * 1000:.0f} ms of {len(up)}, "
                 f"{failed} failed; flood of {held}: {p99(during) * 1000:.0f} ms of {len(during)}",
                 f"< {HEALTH_P99_S * 1000:.0f} ms, 0 failed", ok)


def no_server_error(attempts: list[Attempt]) -> Check:
    bad = [a for a in attempts if (a.status or 0) >= 500 or a.error_code == "timeout"]
    return Check("no 5xx, no time-out", str(len(bad)), "0", not bad,
                 "; ".join(f"{a.kind} {a.status} {a.error_code}" for a in bad[:5]))


def bad_inputs_refused(attempts: list[Attempt]) -> Check:
    sent = [a for a in attempts if a.kind == "bad" and not a.cut]
    wrong = [a for a in sent if not 400 <= (a.status or 0) < 500]
    return Check("bad inputs answered 4xx", f"{len(sent) - len(wrong)} / {len(sent)}", "all", bool(sent) and not wrong,
                 "; ".join(f"{a.error_code}: {a.status}" for a in wrong[:5]))


def disconnects_aborted(attempts: list[Attempt], seen: Observed) -> Check:
    ids = {i for a in attempts if a.kind == "disconnect" and a.accepted for i in a.ids}
    rows = [r for r in seen.rows if r.request_id in ids]
    aborted = sum(1 for r in rows if r.finish_reason == "abort")
    return Check("disconnected streams billed as abort", f"{aborted} / {len(rows)}", "all",
                 bool(rows) and aborted == len(rows))


def clean_stop(seen: Observed) -> Check:
    ok = seen.stop_code == 0 and seen.dead_letter == 0
    return Check("graceful stop, nothing dead-lettered", f"exit {seen.stop_code}, {seen.dead_letter} dead-letter rows",
                 "exit 0, 0 rows", ok)


def quiet_log(seen: Observed) -> Check:
    return Check("no traceback or ERROR in the server log", str(len(seen.log_errors)), "0", not seen.log_errors,
                 "; ".join(seen.log_errors[:3]))


def evaluate(attempts: list[Attempt], polls: list[HealthPoll], seen: Observed) -> list[Check]:
    return [ledger_by_id(attempts, seen), ledger_embeddings(attempts, seen), tokens_billed(attempts, seen),
            budget_held(attempts, seen), kv_idle(seen), rss_growth(seen), health_latency(polls, seen),
            no_server_error(attempts), bad_inputs_refused(attempts), disconnects_aborted(attempts, seen),
            clean_stop(seen), quiet_log(seen)]


def p99(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
