"""Run by test_crash.py: records usage rows forever, printing each request id and the time it
was recorded before recording it, until the parent kills it with SIGKILL."""
from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

from appliance.ledger import Ledger
from appliance.ledger.energy import ConstantPower
from tests.ledger.support import TCO, make_record


def main(database_url: str, flush_interval: float) -> None:
    ledger = Ledger.open(database_url, flush_interval=flush_interval, tco=TCO, host_watts=100,
                         power_source=ConstantPower(100))
    i = 0
    while True:
        print(f"{i} {time.time()}", flush=True)
        ledger.record(make_record(request_id=f"k{i}", created_at=datetime.now(UTC)))
        i += 1
        time.sleep(0.002)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
