"""kill -9 semantics: a SIGKILL loses at most the rows recorded in the last flush interval
(plus the time of one write); every older row is in the database."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, select

from appliance.ledger.models import UsageRow

ROOT = Path(__file__).resolve().parents[2]
FLUSH = 0.3
WRITE_ALLOWANCE = 0.5     # one batch's write on a loaded 2-core machine


def test_sigkill_loses_only_the_last_flush_interval(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    child = subprocess.Popen([sys.executable, "-m", "tests.ledger.crash_child", url, str(FLUSH)],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = []
    started = None
    while True:      # let it run for several flush intervals
        line = child.stdout.readline()
        assert line, f"child exited early with {child.wait()}"
        lines.append(line)
        started = started or time.time()
        if time.time() - started > 6 * FLUSH:
            break
    child.send_signal(signal.SIGKILL)
    killed_at = time.time()
    lines += child.stdout.readlines()
    child.wait()
    recorded = {f"k{i}": float(t) for i, t in (line.split() for line in lines)}

    engine = create_engine(url)
    with engine.connect() as conn:
        written = set(conn.scalars(select(UsageRow.request_id)))
    engine.dispose()
    must_survive = {rid for rid, t in recorded.items() if t < killed_at - FLUSH - WRITE_ALLOWANCE}
    assert len(must_survive) > 100
    assert must_survive <= written, f"lost {len(must_survive - written)} rows older than the flush interval"
    assert written <= set(recorded)


def test_interpreter_exit_writes_every_queued_row(tmp_path: Path) -> None:
    """A process that ends normally (as on SIGTERM, after the service's handler returns)
    writes its queue at exit even when close() was never called."""
    url = f"sqlite:///{tmp_path / 'exit.db'}"
    code = ("from appliance.ledger import Ledger\n"
            "from appliance.ledger.energy import ConstantPower\n"
            "from tests.ledger.support import TCO, make_record\n"
            f"ledger = Ledger.open({url!r}, flush_interval=60, tco=TCO, host_watts=1, power_source=ConstantPower(1))\n"
            "for i in range(2000):\n"
            "    ledger.record(make_record(request_id=f'e{i}'))\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    engine = create_engine(url)
    with engine.connect() as conn:
        assert len(set(conn.scalars(select(UsageRow.request_id)))) == 2000
    engine.dispose()
