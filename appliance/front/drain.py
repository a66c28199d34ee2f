"""The graceful stop, in order (the server runs it on SIGTERM or SIGINT):

1. Draining: the front answers new work with 503 and Retry-After, also on keep-alive
   connections already open, and /ready with 503; the listener stays open so that a load
   balancer sees the 503s instead of refused connections. /health still answers.
2. Requests in flight run to their end for up to the grace period; then the engines stop,
   which ends every open stream with finish_reason "abort" (billed for what was sent).
3. The front closes its listener and its connections.
4. The ledger writer gets a bounded time to write what is queued; rows it could not write
   (a locked or broken database) go to the dead-letter file, so the stop never hangs and no
   row is lost.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from appliance.ledger import dead_letter

log = logging.getLogger("airlock.server")
ABORT_SECONDS = 5.0   # after the engines stop, for aborted streams to send their last chunk


def wait_idle(active: Callable[[], int], seconds: float) -> bool:
    """Wait until no request is in flight; False when `seconds` ran out first."""
    deadline = time.monotonic() + seconds
    while active() > 0:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def drain(appliance: Any, active: Callable[[], int]) -> None:
    """Steps 1 and 2; returns when nothing is in flight (or it gave up waiting)."""
    appliance.draining = True
    grace = appliance.config.server.shutdown_grace_seconds
    if not wait_idle(active, grace):
        log.warning("requests still running after %.1f s; aborting them", grace)
        appliance.models.shutdown()
        if not wait_idle(active, ABORT_SECONDS):
            log.error("%d requests still open after the abort", active())


def close_ledger(ledger: Any, seconds: float) -> int:
    """Step 4: close the ledger within `seconds`; returns the number of rows dead-lettered
    (to the appliance's dead-letter file, appliance.ledger.dead_letter)."""
    if ledger is None:
        return 0
    if ledger.close(timeout=seconds):
        return 0
    rows = ledger.unwritten()
    written = dead_letter.write(rows)
    log.error("ledger: %d rows not written within %.1f s went to %s", written, seconds, dead_letter.path())
    return written


def shut_down(appliance: Any) -> None:
    """After the front has closed: stop the engines, then the ledger (bounded)."""
    appliance.draining = True
    appliance.models.shutdown()
    close_ledger(appliance.ledger, appliance.config.server.ledger_flush_seconds)
    appliance.close()   # the ledger is closed already; this stops what else the appliance holds
