"""Faults staged on the real services (the PostgreSQL + Redis pass).

Each test runs gunicorn (2 workers) and a ``flush_usage`` process of its
own, pointed at a Redis server of the test's own (never the machine's shared
one) and at the test database, and prints what it measured on lines starting
with ``FAULT:`` (run with ``-s`` to see them).

"Acknowledged" usage, precisely: a served call is acknowledged once the
usage pipeline holds it outside the web process that answered it, i.e. once
the recorder's shipper has pushed it to the Redis list (the RPUSH returned)
or a flusher has committed its batch to the database. Until then it waits in
that process's buffer, which survives an outage of Redis (up to
``USAGE_BUFFER_MAX_CALLS`` calls) and of the database (the buffer ships to
Redis; the flusher retries). The Redis server here runs with an append-only
file synced on every write, as production should, so a crash of Redis loses
nothing it had acknowledged. Every test checks that the usage ends up with
the calls the client saw answered: by status, and in the Redis test call by
call (each response's ``Request-Id`` is looked up in the app's call log),
and none is counted twice: a push to Redis whose reply is lost in the crash
is sent again as the same chunk, which Redis recognises and skips.

- Redis killed mid-traffic and restarted: fail-open serves every call,
  limits bite again after the restart; fail-closed answers 503
  ``limits_unavailable``.
- PostgreSQL cut off (a TCP proxy in this test stands between the servers and
  the shared PostgreSQL, which is never stopped): served calls are 503
  ``service_unavailable`` problems, ``/readyz`` is 503 naming the database,
  ``/healthz`` 200, portal pages a 503 page; once the proxy is back the same
  worker processes serve again.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Sum

from apis.registry import SERVED_APIS
from portal.catalog.models import Plan
from portal.catalog.services import catalog_sync, subscription_create_active
from portal.keys.services import api_key_issue
from portal.usage.models import AppUsageRollup, Granularity, RecentCall
from tests.conftest import skip_or_fail
from tests.factories import AppFactory, UserFactory
from tests.servers import ROOT, call, free_port, gunicorn, server_env

pytestmark = pytest.mark.postgres


# --- the pieces ----------------------------------------------------------------


class RedisServer:
    """A redis-server of the test's own on a free port, with an append-only
    file synced on every write (what survives ``kill()`` is what it had
    acknowledged)."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.argv = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            str(directory),
        ]
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str) -> str:
        return subprocess.run(  # noqa: S603 - fixed argv
            [shutil.which("redis-cli") or "redis-cli", "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.cli("ping") == "PONG":
                return
            time.sleep(0.02)
        raise AssertionError("redis-server did not start")

    def kill(self) -> None:
        """A crash, not a shutdown: SIGKILL, nothing written on the way out."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path):
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        skip_or_fail("the fault tests need redis-server and redis-cli on PATH")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class TcpProxy:
    """Forwards a local port to the database server. ``cut()`` closes the
    listening socket and every forwarded connection (new ones are refused);
    ``restore()`` listens on the same port again."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._stopping = threading.Event()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener = listener
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(
            target=self._accept, args=(listener, self._stopping), daemon=True
        )
        self._acceptor.start()

    start = restore

    def _accept(self, listener: socket.socket, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink), daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(source)
            self._drop(sink)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        self._stopping.set()
        self._acceptor.join(timeout=5)
        self._listener.close()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            self._drop(sock)

    def close(self) -> None:
        if not self._stopping.is_set():
            self.cut()


@contextmanager
def flusher(**env: str):
    """``manage.py flush_usage`` as a service of its own, flushing often."""
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "manage.py", "flush_usage", "--interval", "0.3"],
        cwd=ROOT,
        env=server_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _key(rate: str):
    catalog_sync(specs=SERVED_APIS)
    app = AppFactory()
    subscription_create_active(
        app=app, plan=Plan.objects.get(api__slug="books", slug="starter")
    )
    return app, api_key_issue(app=app, name="fault test", rate_override=[rate])


def _usage_by_status(app) -> Counter:
    rows = (
        AppUsageRollup.objects.filter(granularity=Granularity.MINUTE, app_id=app.pk)
        .values("status")
        .annotate(total=Sum("calls"))
    )
    return Counter({row["status"]: row["total"] for row in rows})


def _wait_for_usage(app, expected: Counter, timeout: float = 60) -> Counter:
    """The roll-ups once they hold at least ``expected`` calls of each status
    (or at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        found = _usage_by_status(app)
        if found >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _gunicorn_pids(base: str) -> set[int]:
    """The master and worker processes serving ``base``."""
    bind = base.removeprefix("http://").encode()
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"gunicorn" in b" ".join(argv) and bind in argv:
            pids.add(int(entry.name))
    return pids


def _get(base: str, path: str, cookie: str | None = None):
    """(status, headers, body text) of a plain GET."""
    request = urllib.request.Request(  # noqa: S310 - loopback test server
        f"{base}{path}", headers={"Cookie": cookie} if cookie else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def _timed_call(base: str, key: str):
    started = time.monotonic()
    status, body, response = call(base, key)
    return started, time.monotonic(), status, body, response.headers


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def _histogram(statuses) -> dict[int, int]:
    return dict(sorted(Counter(statuses).items()))


# --- Redis --------------------------------------------------------------------


def test_redis_killed_mid_traffic_fails_open_then_limits_resume_and_no_call_is_lost(
    transactional_db, own_redis
):
    app, issued = _key("5/s")
    pending_key = cache.make_key("usage:pending")
    results: list[tuple] = []  # (started, ended, status, RateLimit, Request-Id)
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            try:
                started, ended, status, _, headers = _timed_call(base, issued.full_key)
            except OSError:  # no answer at all: recorded as status 0
                results.append((time.monotonic(), time.monotonic(), 0, None, None))
                continue
            rate_limit, request_id = headers.get("RateLimit"), headers["Request-Id"]
            results.append((started, ended, status, rate_limit, request_id))

    # Every call in each app's log, so each answered call can be found by id.
    usage_env = {"REDIS_URL": own_redis.url, "USAGE_RECENT_CALLS": "100000"}
    with (
        gunicorn(workers=2, **usage_env) as (base,),
        flusher(USAGE_CLAIM_TIMEOUT_SECONDS="2", **usage_env) as flush,
    ):
        threads = [threading.Thread(target=traffic) for _ in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(2.5)
        # The flusher lags for a moment, so shipped calls wait in Redis when
        # it dies: its append-only file must bring them back.
        flush.send_signal(signal.SIGSTOP)
        time.sleep(1.5)
        committed_before = sum(_usage_by_status(app).values())
        in_redis_before = int(own_redis.cli("LLEN", pending_key) or 0)
        own_redis.kill()
        stopped_at = time.monotonic()  # it is dead: later calls reach no Redis
        flush.send_signal(signal.SIGCONT)
        time.sleep(4)
        restarted_at = time.monotonic()
        own_redis.start()
        answering_at = time.monotonic()
        time.sleep(4)
        stop.set()
        for thread in threads:
            thread.join()

        expected = Counter(r[2] for r in results)
        _wait_for_usage(app, expected)
        time.sleep(1)  # a duplicate, if any, lands in a later batch
        flushed = _usage_by_status(app)
        logged = Counter(
            RecentCall.objects.filter(app_id=app.pk).values_list(
                "request_id", flat=True
            )
        )

    phases = {
        "before": [r for r in results if r[0] < stopped_at],
        # Answered while Redis was down (a call still in flight when it came
        # back may have been counted by the new server).
        "during": [r for r in results if r[0] >= stopped_at and r[1] < restarted_at],
        "after": [r for r in results if r[0] >= stopped_at and r[1] >= restarted_at],
    }
    for name, rows in phases.items():
        print(
            f"FAULT: redis outage, {name}: statuses {_histogram(r[2] for r in rows)}, "
            f"slowest {max(r[1] - r[0] for r in rows) * 1000:.0f} ms"
        )
    during_latency = [ended - started for started, ended, *_ in phases["during"]]
    first_429 = min(r[1] for r in phases["after"] if r[2] == 429)
    first_headers = min(r[1] for r in phases["after"] if r[3])
    answered = {r[4] for r in results}
    duplicated = sum(n - 1 for n in logged.values())
    print(
        f"FAULT: redis outage: p95 latency during the outage "
        f"{_p95(during_latency) * 1000:.0f} ms; Redis answered "
        f"{answering_at - restarted_at:.2f} s after its restart; first 429 "
        f"{first_429 - restarted_at:.2f} s and first RateLimit header "
        f"{first_headers - restarted_at:.2f} s after the restart"
    )
    print(
        f"FAULT: redis outage: usage acknowledged before the kill: "
        f"{committed_before} committed + {in_redis_before} waiting in Redis; "
        f"{len(results)} calls answered, {len(answered & set(logged))} of them in "
        f"the log, {sum(flushed.values())} in the roll-ups, {duplicated} counted "
        f"twice"
    )

    assert not [r for r in results if r[2] == 0 or r[2] >= 500]
    # Fail open (the default): every call while Redis is down is served,
    # and none is counted.
    assert {r[2] for r in phases["during"]} == {200}
    assert not [r for r in phases["during"] if r[3]]
    # Before and after, the 5/s tier holds: refusals, with RateLimit headers.
    assert 429 in {r[2] for r in phases["before"]}
    assert 429 in {r[2] for r in phases["after"]}
    assert results[-1][3] is not None
    # No call hangs on the dead or restarting Redis (connect and socket
    # timeouts: 0.5 s). The first calls, which warm the workers up, aside.
    assert max(r[1] - r[0] for r in phases["during"] + phases["after"]) < 1.5
    # Nothing is lost: every answered call is in the log, shipped before the
    # kill (kept by Redis's append-only file), held by its worker while Redis
    # was down, or answered after; and the log holds nothing else.
    assert in_redis_before > 0
    assert set(logged) == answered
    assert sum(flushed.values()) == sum(logged.values())
    # A push whose reply the crash swallowed is sent again as the same
    # chunk, which Redis recognises: nothing is counted twice.
    assert duplicated == 0


def test_redis_killed_with_fail_open_off_answers_503_then_serves_again(
    transactional_db, own_redis
):
    app, issued = _key("100/s")
    with (
        gunicorn(workers=2, REDIS_URL=own_redis.url, RATELIMIT_FAIL_OPEN="False") as (
            base,
        ),
        flusher(REDIS_URL=own_redis.url, USAGE_CLAIM_TIMEOUT_SECONDS="2"),
    ):
        before = [call(base, issued.full_key) for _ in range(5)]
        own_redis.kill()
        during = [_timed_call(base, issued.full_key) for _ in range(10)]
        restarted_at = time.monotonic()
        own_redis.start()
        after = []
        while time.monotonic() - restarted_at < 15:
            after.append(call(base, issued.full_key))
            if after[-1][0] == 200:
                break
            time.sleep(0.05)
        served_again = time.monotonic() - restarted_at
        statuses = [r[0] for r in before] + [r[2] for r in during]
        statuses += [r[0] for r in after]
        flushed = _wait_for_usage(app, Counter(statuses))

    print(
        f"FAULT: redis outage, fail closed: before {_histogram(r[0] for r in before)}, "
        f"during {_histogram(r[2] for r in during)}, served again "
        f"{served_again:.2f} s after the restart; p95 latency during the outage "
        f"{_p95([r[1] - r[0] for r in during]) * 1000:.0f} ms"
    )
    assert [r[0] for r in before] == [200] * 5
    assert [r[2] for r in during] == [503] * 10
    for *_, body, headers in during:
        assert headers["Content-Type"] == "application/problem+json"
        assert body["code"] == "limits_unavailable"
        assert body["status"] == 503
        assert int(headers["Retry-After"]) > 0
    assert max(r[1] - r[0] for r in during) < 1.5
    assert after[-1][0] == 200
    assert "RateLimit" in after[-1][2].headers
    assert flushed == Counter(statuses)


# --- PostgreSQL ---------------------------------------------------------------


@pytest.fixture
def db_proxy():
    db = connection.settings_dict
    proxy = TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    proxy.start()
    yield proxy
    proxy.close()


def _proxied_database_url(proxy: TcpProxy) -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER'] or 'postgres'}@127.0.0.1:{proxy.port}/{db['NAME']}"


def test_database_cut_off_answers_503_and_the_same_workers_recover(
    transactional_db, own_redis, db_proxy, client
):
    app, issued = _key("100/s")
    user = UserFactory()
    client.force_login(user)
    cookie_name = settings.SESSION_COOKIE_NAME
    session = f"{cookie_name}={client.cookies[cookie_name].value}"
    env = {"REDIS_URL": own_redis.url, "DATABASE_URL": _proxied_database_url(db_proxy)}
    statuses: list[int] = []
    with (
        gunicorn(workers=2, **env) as (base,),
        flusher(USAGE_CLAIM_TIMEOUT_SECONDS="2", **env) as flush_proc,
    ):
        statuses += [call(base, issued.full_key)[0] for _ in range(20)]
        assert statuses == [200] * 20
        assert _get(base, "/dashboard/", session)[0] == 200
        acknowledged = _wait_for_usage(app, Counter({200: 20}))
        assert acknowledged == Counter({200: 20})
        pids = _gunicorn_pids(base)
        assert len(pids) == 3  # the master and its 2 workers

        cut_at = time.monotonic()
        db_proxy.cut()
        during = []
        while time.monotonic() - cut_at < 3:  # within the key's 100/s
            during.append(_timed_call(base, issued.full_key))
            time.sleep(0.05)
        statuses += [r[2] for r in during]
        readyz = _get(base, "/readyz")
        healthz = _get(base, "/healthz")
        portal_page = _get(base, "/apis/")
        dashboard = _get(base, "/dashboard/", session)
        # What was acknowledged before the cut is in the database, untouched.
        assert _usage_by_status(app) == acknowledged

        restored_at = time.monotonic()
        db_proxy.restore()
        while time.monotonic() - restored_at < 15:
            statuses.append(call(base, issued.full_key)[0])
            if statuses[-1] == 200:
                break
            time.sleep(0.05)
        served_again = time.monotonic() - restored_at
        recovered = statuses[-1]
        after = [call(base, issued.full_key)[0] for _ in range(20)]
        statuses += after
        ready_again = _get(base, "/readyz")
        dashboard_again = _get(base, "/dashboard/", session)
        pids_after = _gunicorn_pids(base)
        flushed = _wait_for_usage(app, Counter(statuses))
        flusher_alive = flush_proc.poll() is None

    latencies = [ended - started for started, ended, *_ in during]
    print(
        f"FAULT: database outage: {len(during)} served calls in 3 s, statuses "
        f"{_histogram(r[2] for r in during)}, p95 latency "
        f"{_p95(latencies) * 1000:.0f} ms, slowest {max(latencies) * 1000:.0f} ms"
    )
    print(
        f"FAULT: database outage: /readyz {readyz[0]} {json.loads(readyz[2])}, "
        f"/healthz {healthz[0]}, portal page {portal_page[0]}, "
        f"signed-in page {dashboard[0]}"
    )
    print(
        f"FAULT: database outage: first 200 {served_again:.2f} s after the proxy "
        f"was restored, by the same processes {sorted(pids) == sorted(pids_after)}; "
        f"usage acknowledged before the cut {sum(acknowledged.values())}, "
        f"roll-ups afterwards {dict(sorted(flushed.items()))}"
    )

    assert {r[2] for r in during} == {503}
    for *_, body, headers in during:
        assert headers["Content-Type"] == "application/problem+json"
        assert body["code"] == "service_unavailable"
        assert body["status"] == 503
        assert body["type"].endswith("/service_unavailable")
        assert int(headers["Retry-After"]) > 0
        assert headers["Request-Id"]
    assert readyz[0] == 503
    assert json.loads(readyz[2])["failed"] == ["database"]
    assert healthz[0] == 200
    for page in (portal_page, dashboard):
        assert page[0] == 503
        assert page[1]["Content-Type"].startswith("text/html")
        assert "Temporarily unavailable" in page[2]
        assert int(page[1]["Retry-After"]) > 0

    # Back without a restart: the very processes that served before.
    assert recovered == 200
    assert after == [200] * 20
    assert ready_again[0] == 200
    assert dashboard_again[0] == 200
    assert pids_after == pids
    # Usage: the 20 acknowledged calls are intact, and the 503s answered
    # during the cut were buffered in Redis and counted once it was back.
    assert flusher_alive
    assert flushed == Counter(statuses)
