"""`airlock doctor`: checks of the host and the installation, each ok, warn or fail with a fix."""
from appliance.doctor.result import CheckResult, Status
from appliance.doctor.runner import run_doctor

__all__ = ["CheckResult", "Status", "run_doctor"]
