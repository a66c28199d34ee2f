"""A real PostgreSQL server on loopback for a test, from the distribution's binaries.

Skips (naming why) only where the binaries, or a user to run them as under root, are missing.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def pg_bin() -> Path | None:
    found = shutil.which("initdb")
    candidates = [found] if found else sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(os.path.realpath(candidates[-1])).parent if candidates else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_postgres(max_connections: int = 100) -> Iterator[str]:
    """A fresh server with an empty `airlock` database; yields its SQLAlchemy URL."""
    bindir = pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb) on this machine")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="airlock-pg-"))
    if os.geteuid() == 0:        # the server refuses to run as root
        if shutil.which("runuser") is None or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            pytest.skip("running as root without a postgres user to run the server as")
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port, data = free_port(), root / "data"
    subprocess.run([*as_user, bindir / "initdb", "-D", data, "-A", "trust", "-U", "airlock", "--no-sync"],
                   check=True, capture_output=True)
    options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
               f"-c max_connections={max_connections}")
    subprocess.run([*as_user, bindir / "pg_ctl", "-D", data, "-o", options, "-l", root / "log", "-w", "start"],
                   check=True, capture_output=True)
    try:
        import psycopg
        with psycopg.connect(f"postgresql://airlock@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE airlock")
        yield f"postgresql+psycopg://airlock@127.0.0.1:{port}/airlock"
    finally:
        subprocess.run([*as_user, bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
