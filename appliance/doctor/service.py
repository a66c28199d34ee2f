"""The installation: the port, the database and its migration level, every model's checksum."""
from __future__ import annotations

import errno
import json
import socket
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.config import Config
from appliance.doctor.result import CheckResult, fail, ok, warn

if TYPE_CHECKING:
    from appliance.models.store import ModelStore


def check_port(config: Config) -> CheckResult:
    host, port = config.server.host, config.server.port
    where = f"{host}:{port}"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return ok("port", f"{where} is free")
        except OSError as exc:
            error = exc
    if error.errno == errno.EADDRINUSE:
        if _answers_as_airlock(host, port):
            return ok("port", f"{where} is held by Airlock (it answers /health)")
        return fail("port", f"{where} is in use by another program",
                    f"stop it (ss -ltnp 'sport = :{port}' shows which), or set [server] port")
    if error.errno == errno.EADDRNOTAVAIL:
        return fail("port", f"{host} is not an address of this machine", "set [server] host to one of this host's addresses")
    return fail("port", f"cannot bind {where}: {error.strerror}", "choose a port above 1023 in [server] port")


def _answers_as_airlock(host: str, port: int) -> bool:
    host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    url = f"http://[{host}]:{port}/health" if ":" in host else f"http://{host}:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return json.loads(reply.read()).get("status") == "ok"
    except (OSError, ValueError, AttributeError):
        return False


def check_database(config: Config) -> CheckResult:
    url = config.database_url
    fix = "run airlock db upgrade with the same --config (it copies the database aside first)"
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return warn("database", f"{url.removeprefix('sqlite:///')} does not exist yet", fix)
    try:
        from sqlalchemy.exc import SQLAlchemyError

        from appliance.ledger.database import current_revision, head_revision, make_engine
        engine = make_engine(url)
        try:
            current, head = current_revision(engine), head_revision()
        finally:
            engine.dispose()
    except (ImportError, SQLAlchemyError, OSError) as exc:
        return fail("database", f"cannot read {_redact(url)}: {exc}", "check [ledger] database_url and the file's permissions")
    if current == head:
        return ok("database", f"{_redact(url)} at migration {head} (head)")
    if current is None:
        return fail("database", f"{_redact(url)} has no schema", fix)
    return warn("database", f"{_redact(url)} at migration {current}, this build's head is {head}", fix)


def check_models(config: Config) -> list[CheckResult]:
    from appliance.models.errors import StoreError
    from appliance.models.store import ModelStore
    store = ModelStore(config.store_path)
    try:
        entries = store.list()
    except StoreError as exc:
        return [fail("models", str(exc), "remove or re-import that model (airlock models remove/import)")]
    if not entries:
        return [warn("models", f"no models in the store at {store.path}", "airlock models import FILE")]
    results = [_check_model(store, entry.name) for entry in entries]
    if config.models.default_model not in store:
        results.append(warn("models", f"the default model {config.models.default_model!r} is not in the store",
                            "import it (airlock models import FILE) or set models.default_model"))
    return results


def _check_model(store: ModelStore, name: str) -> CheckResult:
    problems = store.verify(name)
    if problems:
        return fail(f"model {name}", "; ".join(problems),
                    f"re-import it from the bundle: airlock models remove {name} && airlock models import FILE")
    return ok(f"model {name}", "every file matches its sha256")


def _redact(url: str) -> str:
    """A database URL without its password."""
    head, at, tail = url.rpartition("@")
    if not at or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, credentials = head.partition("//")
    return f"{scheme}//{credentials.split(':', 1)[0]}:***@{tail}"
