"""The real worker process (`manage.py db_worker`) delivers and retries, on the
PostgreSQL + Redis run."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from portal.keys.services import api_key_issue
from portal.webhooks import services
from portal.webhooks.catalogue import SUBSCRIBABLE
from tests.servers import ROOT, server_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker():
    process = subprocess.Popen(  # noqa: S603 - our own manage.py
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--interval",
            "0.2",
            "--no-reload",
            "--no-startup-delay",
        ],  # fmt: skip
        cwd=ROOT,
        env=server_env(TASKS_BACKEND="database", WEBHOOKS_ALLOW_LOOPBACK="true"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    yield process
    process.terminate()
    process.wait(timeout=10)


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_the_worker_delivers_and_retries(
    settings, worker, receiver, books_app, developer
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    endpoint, secret = services.endpoint_create(
        team=books_app.app.team, url=receiver.url, event_types=list(SUBSCRIBABLE)
    )
    receiver.secret = secret
    receiver.reply(500, b"not yet")
    receiver.requests.clear()  # books_app's own key.created had no endpoint yet
    issued = api_key_issue(app=books_app.app, name="from the worker", actor=developer)
    assert wait_for(lambda: len(receiver.requests) >= 2, timeout=30), (
        worker.stderr.read1(4000) if worker.poll() is not None else "worker running"
    )
    first, second = receiver.events()
    assert first == second
    assert first["type"] == "key.created"
    assert first["data"]["key"]["lookup_id"] == issued.key.lookup_id
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    assert len(ids) == 1
    stamps = [int(r["headers"]["webhook-timestamp"]) for r in receiver.requests]
    assert stamps[1] - stamps[0] >= 4  # the first retry waits 5 seconds
