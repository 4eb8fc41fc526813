"""Real gunicorn servers for multi-process tests (PostgreSQL + Redis pass).

They share the test's own PostgreSQL database (use ``transactional_db`` so
they see its rows) and, unless told otherwise, its Redis.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(base: str, key: str, method: str = "GET", body=None, path="books/"):
    """(status, JSON body, headers) of one served call with an API key."""
    request = urllib.request.Request(  # noqa: S310 - loopback test server
        f"{base}/api/books/v1/{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}"), response
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), error


def wait_ready(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):  # noqa: S310
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"server at {base} did not start")


def server_env(**extra: str) -> dict[str, str]:
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST']}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "DEBUG": "True",
        **extra,
    }


@contextmanager
def gunicorn(
    count: int = 1,
    *,
    workers: int = 1,
    threads: int = 1,
    log: Path | None = None,
    **env: str,
):
    """Start ``count`` gunicorn servers; yields their base URLs.

    ``log``: a file that receives the servers' stderr (their log output).
    """
    procs, bases = [], []
    log_file = open(log, "w") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        for _ in range(count):
            port = free_port()
            argv = [
                sys.executable,
                "-m",
                "gunicorn",
                "portal.wsgi",
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
            ]
            if threads > 1:
                argv += ["--worker-class", "gthread", "--threads", str(threads)]
            procs.append(
                subprocess.Popen(  # noqa: S603 - fixed argv
                    argv,
                    cwd=ROOT,
                    env=server_env(**env),
                    stderr=log_file,
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        for base in bases:
            wait_ready(base)
        yield bases
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
        if log is not None:
            log_file.close()
