"""The service-level benchmarks, each against its baseline in the same run: the HTTP layer,
SLO admission, alert evaluation, routing, the ledger, the fleet's budget holds and the soak.
The engine's own (throughput, precision, context, sweep) live in engine/bench/."""
