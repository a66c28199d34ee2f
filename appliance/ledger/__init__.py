"""The usage and cost ledger: one row per request, a background writer, reports and TCO."""
from appliance.ledger.ledger import Ledger
from appliance.ledger.record import InvalidUsage, UsageRecord
from appliance.ledger.tco import InvalidTco, TcoInputs, TcoReport

__all__ = ["InvalidTco", "InvalidUsage", "Ledger", "TcoInputs", "TcoReport", "UsageRecord"]
