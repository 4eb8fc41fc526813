"""``make bench``: load benchmark of the served-call path.

Starts gunicorn on 127.0.0.1 against a fresh PostgreSQL database and Redis,
with ``manage.py flush_usage`` beside it as in production (every served call
is recorded), then drives one book-detail endpoint eight ways with wrk:

- ``baseline``: no authentication at all;
- ``gatehouse``: the real ``/api/books/v1/books/<id>/`` with a Gatehouse key;
- ``gatehouse-per-call``: the same view with the same key and Gatehouse's
  own limit check, but with leases off: the Lua script on every call;
- ``gatehouse-get-usage``: the same view with the same key, Gatehouse's
  authentication and scope check, but the plan's limits counted the naive
  way: one django-ratelimit ``get_usage`` per rate tier and one for the quota;
- ``gatehouse-oauth``: the same with an OAuth access token (client
  credentials, scope ``books:read``);
- ``drf-api-key``: the same view behind djangorestframework-api-key's
  ``HasAPIKey`` (installed by the ``bench`` extra);
- ``dot-oauth``: the same view behind django-oauth-toolkit's
  ``OAuth2Authentication`` and ``TokenHasScope``, with the same token;
- ``gatehouse-no-recording``: the ``gatehouse`` set-up served by a second
  gunicorn started with ``USAGE_RECORDING=False`` on the same database and
  Redis (``--skip-recording`` leaves it out).

All eight go through the same settings (but for ``USAGE_RECORDING`` on the
second server), URLconf and middleware; the five Gatehouse set-ups also count
every call against the plan's limits. After a
warm-up pass, the set-ups are measured in interleaved rounds (each round
starts one set-up later, so none always runs first) and the median of the
rounds is reported. A small machine is noisy: on Linux each run starts once
other processes leave the CPUs alone, and a run they disturbed anyway is
repeated (``--max-foreign-cpu``), judged from /proc, which also gives the
server's CPU time per request. On the recording server that includes
``flush_usage``: after each run the benchmark waits until the flusher has
folded every recorded call into the database, and counts its CPU time (and
its PostgreSQL backend's) in the run's. The table (requests/s, p50, p99 and
server CPU per request, each against the baseline) is printed and appended to
``benchmarks/RESULTS.md``, with the ratio of recording on to recording off,
a check that the roll-ups hold every call wrk counted on the recording
server (after a last ``flush_usage --once``), and the database queries one
warm call makes on each set-up (counted in process by
``benchmarks/prepare.py``).

A second measurement, over-admission under concurrency, starts gunicorn again
with 2 gthread workers x 8 threads and fires 400 concurrent calls at a
Gatehouse key limited to 50/m, then at the same view behind DRF's
``ScopedRateThrottle`` at 50/min, and counts how many each admitted.
``--skip-throughput`` and ``--skip-concurrency`` run one part only.

Needs ``wrk`` (Debian: ``apt-get install wrk``), PostgreSQL and Redis; it
installs nothing. The database is dropped and the Redis database flushed
when the run ends, failed or not. ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
WRK_SCRIPT = ROOT / "benchmarks" / "wrk_report.lua"
RESULT_MARKER = "BENCH_RESULT "


class BenchError(Exception):
    """A condition that stops the run, with a message saying what to do."""


# The gunicorn that serves a set-up: the main one records usage, the other
# (``gatehouse-no-recording`` only) runs with USAGE_RECORDING=False.
MAIN = "main"
UNRECORDED = "unrecorded"


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    path: str  # with a ``{book_id}`` placeholder
    header_name: str = ""
    header_value: str = ""
    server: str = MAIN


@functools.cache
def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=5)


@dataclass(frozen=True)
class UsageQueue:
    """Where recorded calls wait for ``flush_usage``: the Redis list the web
    processes ship their buffers to, and the batches a flusher has claimed
    (``portal/usage/store.py``); both empty once everything is folded in."""

    redis_url: str
    pending_key: str
    claims_key: str
    ship_interval: float  # USAGE_SHIP_INTERVAL_SECONDS

    def backlog(self) -> int:
        with _redis_client(self.redis_url).pipeline(transaction=False) as pipe:
            pipe.llen(self.pending_key)
            pipe.zcard(self.claims_key)
            return sum(pipe.execute())


@dataclass(frozen=True)
class Server:
    """One running gunicorn: where to send load, and whose CPU time to count
    (gunicorn's master, whose children are the workers, and for the recording
    server the ``flush_usage`` process beside it)."""

    base: str
    pids: tuple[int, ...]
    records_usage: bool


@dataclass(frozen=True)
class Target:
    """The running servers, the book they serve and their database."""

    servers: dict[str, Server]
    book_id: int
    database: str
    usage: UsageQueue

    def server(self, variant: Variant) -> Server:
        return self.servers[variant.server]

    def url(self, variant: Variant) -> str:
        return self.server(variant).base + variant.path.format(book_id=self.book_id)


@dataclass(frozen=True)
class Sample:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    socket_errors: int
    responses: int  # all 2xx or 3xx: a run with any other status fails
    # From /proc (Linux), else None: the server's CPU time per request, and
    # how many CPUs other processes kept busy meanwhile.
    server_cpu_ms: float | None = None
    foreign_cpus: float | None = None


@dataclass
class Summary:
    variant: Variant
    samples: list[Sample] = field(default_factory=list)
    # Responses wrk counted over every run of the set-up: warm-up and
    # repeated runs too, as the server recorded those calls as well.
    served: int = 0

    @property
    def requests_per_second(self) -> float:
        return statistics.median(s.requests_per_second for s in self.samples)

    @property
    def p50_ms(self) -> float:
        return statistics.median(s.p50_ms for s in self.samples)

    @property
    def p99_ms(self) -> float:
        return statistics.median(s.p99_ms for s in self.samples)

    @property
    def server_cpu_ms(self) -> float | None:
        values = [s.server_cpu_ms for s in self.samples]
        if any(v is None for v in values):
            return None
        return statistics.median(values)


# --- options -----------------------------------------------------------------


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return number


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description=(
            "Load-benchmark the book-detail endpoint with no authentication, a "
            "Gatehouse key (its limits counted by Gatehouse, with and without "
            "leases, or by django-ratelimit's get_usage per tier), a Gatehouse "
            "OAuth token, "
            "djangorestframework-api-key and django-oauth-toolkit, under "
            "gunicorn with PostgreSQL and Redis, every call recorded for usage "
            "(flush_usage runs beside gunicorn); the Gatehouse key again on a "
            "second gunicorn with usage recording off, and check that the "
            "roll-ups hold every call; "
            "count over-admission of a 50/m limit under 400 concurrent calls; "
            "append the tables to benchmarks/RESULTS.md. "
            "Through make: make bench BENCH_ARGS='--workers 4 --rounds 5'."
        ),
    )
    server = parser.add_argument_group("gunicorn")
    server.add_argument("--workers", type=_positive, default=2, help="default: 2")
    server.add_argument(
        "--worker-class", default="sync", help="gunicorn worker class (default: sync)"
    )
    server.add_argument(
        "--threads",
        type=_positive,
        help="threads per worker (gunicorn's default: 1; more than 1 makes a "
        "sync worker gthread)",
    )
    server.add_argument(
        "--port",
        type=int,
        default=0,
        help="the main server's port on 127.0.0.1 (default: a free one; the "
        "server with usage recording off always takes a free one)",
    )
    load = parser.add_argument_group("load (wrk)")
    load.add_argument(
        "--duration", type=_positive, default=10, help="seconds per run (default: 10)"
    )
    load.add_argument(
        "--connections",
        type=_positive,
        default=16,
        help="open connections (default: 16)",
    )
    load.add_argument(
        "--wrk-threads", type=_positive, default=2, help="wrk threads (default: 2)"
    )
    load.add_argument(
        "--rounds",
        type=_positive,
        default=5,
        help="interleaved measured runs per set-up; the median is reported "
        "(default: 5)",
    )
    load.add_argument(
        "--max-foreign-cpu",
        type=float,
        default=0.1,
        help="repeat a measured run during which other processes kept more "
        "than this many CPUs busy on average (Linux; default: %(default)s)",
    )
    load.add_argument(
        "--retries",
        type=int,
        default=3,
        help="how often one run may be repeated for that; the least disturbed "
        "attempt counts (default: %(default)s)",
    )
    load.add_argument(
        "--quiet-wait",
        type=float,
        default=60,
        help="before each measured run, wait up to this many seconds for "
        "other processes to fall under --max-foreign-cpu (default: %(default)s, "
        "0: do not wait)",
    )
    load.add_argument(
        "--warmup",
        type=int,
        default=3,
        help="seconds of unmeasured load per set-up first (default: 3, 0: none)",
    )
    concurrency = parser.add_argument_group("over-admission under concurrency")
    concurrency.add_argument(
        "--concurrency-requests",
        type=_positive,
        default=400,
        help="calls fired at each 50/m limit (default: %(default)s)",
    )
    concurrency.add_argument(
        "--concurrency-clients",
        type=_positive,
        default=100,
        help="client threads firing them (default: %(default)s)",
    )
    parts = parser.add_argument_group("parts")
    parts.add_argument(
        "--skip-throughput",
        action="store_true",
        help="skip the throughput rounds (wrk)",
    )
    parts.add_argument(
        "--skip-concurrency",
        action="store_true",
        help="skip the over-admission measurement",
    )
    parts.add_argument(
        "--skip-recording",
        action="store_true",
        help="in the throughput rounds, leave out the Gatehouse key on a second "
        "gunicorn with usage recording off (the main server still records, "
        "with flush_usage beside it)",
    )
    services = parser.add_argument_group("services")
    services.add_argument(
        "--postgres-url",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server and a database to connect to while the "
        "benchmark database is created and dropped "
        "(default: %(default)s)",
    )
    services.add_argument(
        "--database-name",
        default="gatehouse_bench",
        help="dropped and created afresh on every run (default: %(default)s)",
    )
    services.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/2",
        help="a Redis database the run may flush (default: %(default)s)",
    )
    parser.add_argument(
        "--no-append",
        action="store_true",
        help="print the table without appending it to benchmarks/RESULTS.md",
    )
    args = parser.parse_args(argv)
    if args.wrk_threads > args.connections:
        parser.error("--wrk-threads cannot exceed --connections")
    if args.warmup < 0 or args.retries < 0 or args.max_foreign_cpu < 0:
        parser.error("--warmup, --retries and --max-foreign-cpu cannot be negative")
    if args.skip_throughput and args.skip_concurrency:
        parser.error("--skip-throughput and --skip-concurrency leave nothing to run")
    return args


# --- services ------------------------------------------------------------------


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError(
            "wrk is not installed. On Debian or Ubuntu: sudo apt-get install wrk"
        )
    return wrk


def _database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def _admin_connection(server_url: str) -> psycopg.Connection:
    try:
        return psycopg.connect(server_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        raise BenchError(
            f"PostgreSQL is not reachable at {server_url} ({error}). Start it or "
            "pass --postgres-url."
        ) from error


def database_create(server_url: str, name: str) -> int:
    """Drop and create database ``name``; return the server's version number."""
    with _admin_connection(server_url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return conn.info.server_version


def database_drop(server_url: str, name: str) -> None:
    with _admin_connection(server_url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )


def redis_flush(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=5).flushdb()
    except redis.RedisError as error:
        raise BenchError(
            f"Redis is not reachable at {url} ({error}). Start it or pass --redis-url."
        ) from error


def _throwaway_rsa_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def bench_environment(*, database_url: str, redis_url: str) -> dict[str, str]:
    """The portal's production configuration, on the loopback interface."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="benchmarks.bench_settings",
        DEBUG="False",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        # Plain http on the loopback: with DEBUG off every request would
        # otherwise be redirected to https.
        SECURE_SSL_REDIRECT="False",
        # Required with DEBUG off; the benchmark signs no ID token.
        OIDC_RSA_PRIVATE_KEY=_throwaway_rsa_key(),
        LOG_LEVEL="WARNING",
        EMAIL_URL="dummymail://",
        DEMO_ADMIN_PASSWORD=secrets.token_urlsafe(16),
        DEMO_DEV_PASSWORD=secrets.token_urlsafe(16),
        # The access token is issued before the run and must outlive it.
        OAUTH_ACCESS_TOKEN_LIFETIME_SECONDS="86400",  # noqa: S106 - not a secret
    )
    return env


def prepare(env: dict[str, str]) -> dict:
    """Migrate, seed, issue the credentials and count queries; see
    ``benchmarks/prepare.py``."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.prepare"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"Preparing the database failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- gunicorn --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_start(
    env: dict[str, str],
    port: int,
    *,
    workers: int,
    worker_class: str,
    threads: int | None,
) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "portal.wsgi:application",
        "--chdir",
        str(ROOT),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--log-level",
        "warning",
    ]
    if threads is not None:
        command += ["--threads", str(threads)]
    return subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 - no shell


def flusher_start(env: dict[str, str]) -> subprocess.Popen:
    """``manage.py flush_usage``, as production runs it beside gunicorn: it
    folds the calls the web processes ship to Redis into the roll-ups."""
    return subprocess.Popen(  # noqa: S603 - no shell
        [sys.executable, "manage.py", "flush_usage"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,  # its greeting; errors still reach stderr
    )


def process_stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    # Only ever the gunicorn this run started, over http://127.0.0.1.
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until_ready(process: subprocess.Popen, base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(
                f"gunicorn exited with status {process.returncode}; its log is above."
            )
        try:
            if _get(base + "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError(f"gunicorn did not answer {base}/healthz within {timeout:.0f}s.")


def check_variants(target: Target, variants: Sequence[Variant]) -> None:
    """Each set-up serves the same book with its credential, and refuses
    the call without one (so the authentication really runs)."""
    bodies = {}
    for variant in variants:
        url = target.url(variant)
        headers = (
            {variant.header_name: variant.header_value} if variant.header_name else {}
        )
        status, body = _get(url, headers)
        if status != 200:
            raise BenchError(f"{variant.name}: GET {url} answered {status}: {body!r}")
        bodies[variant.name] = json.loads(body)
        if variant.header_name:
            refused = _get(url)[0]
            if refused not in (401, 403):
                raise BenchError(
                    f"{variant.name}: GET {url} without a credential answered "
                    f"{refused}, not 401 or 403."
                )
    if len({json.dumps(body, sort_keys=True) for body in bodies.values()}) != 1:
        raise BenchError(f"The set-ups serve different bodies: {bodies}")


# --- CPU accounting (Linux) -------------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuReading:
    """CPU-seconds so far: the whole machine's busy (and stolen) time, the
    server's (gunicorn and its workers, the usage flusher beside the
    recording server, and the database's PostgreSQL backends), and wrk's
    (this process's finished children); and when (monotonic seconds)."""

    machine: float
    server: float
    load_generator: float
    at: float


def _machine_busy_seconds() -> float:
    # cpu  user nice system idle iowait irq softirq steal ...: steal is time
    # the hypervisor gave to someone else, as lost to us as a busy neighbour.
    fields = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


def _server_seconds(server_pids: tuple[int, ...], database: str) -> float:
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue  # exited meanwhile
        fields = stat.rpartition(")")[2].split()
        is_server = int(entry.name) in server_pids or int(fields[1]) in server_pids
        is_backend = cmdline.startswith(b"postgres:") and (
            f" {database} ".encode() in cmdline
        )
        if is_server or is_backend:
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / _CLOCK_TICKS


def wait_for_quiet(max_busy_cpus: float, timeout: float) -> None:
    """Wait (``timeout`` seconds at most) until the machine stays under
    ``max_busy_cpus`` for a second; between runs our own processes idle, so
    what keeps the CPUs busy then is someone else."""
    if timeout <= 0 or not Path("/proc/stat").exists():
        return
    deadline = time.monotonic() + timeout
    told = False
    while True:
        started, busy_before = time.monotonic(), _machine_busy_seconds()
        time.sleep(1)
        busy = (_machine_busy_seconds() - busy_before) / (time.monotonic() - started)
        if busy <= max_busy_cpus or time.monotonic() >= deadline:
            return
        if not told:
            print(
                f"  waiting for other processes to go quiet ({busy:.2f} CPUs busy)",
                flush=True,
            )
            told = True


def cpu_reading(server: Server, database: str) -> CpuReading | None:
    if not Path("/proc/stat").exists():
        return None
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuReading(
        machine=_machine_busy_seconds(),
        server=_server_seconds(server.pids, database),
        load_generator=children.ru_utime + children.ru_stime,
        at=time.monotonic(),
    )


# --- usage flushing ------------------------------------------------------------

FLUSH_TIMEOUT = 60.0


def wait_until_flushed(usage: UsageQueue, load_ended: float) -> None:
    """Wait until ``flush_usage`` has folded every call the recording server
    served into the database: the web processes have shipped their buffers
    (two ship intervals after the load ended), no call waits in Redis and no
    batch is claimed. The flusher works in steps of seconds, so without this
    the end of one run's flushing would fall into the next run."""
    time.sleep(max(load_ended + 2 * usage.ship_interval - time.monotonic(), 0.0))
    deadline = time.monotonic() + FLUSH_TIMEOUT
    while usage.backlog():
        if time.monotonic() > deadline:
            raise BenchError(
                f"flush_usage left recorded calls in Redis for {FLUSH_TIMEOUT:.0f}s "
                "after the load; its log, if any, is above."
            )
        time.sleep(0.05)


# --- load --------------------------------------------------------------------------


def wrk_run(
    wrk: str, target: Target, variant: Variant, seconds: int, args: argparse.Namespace
) -> Sample:
    env = dict(os.environ)
    env.update(
        BENCH_HEADER_NAME=variant.header_name, BENCH_HEADER_VALUE=variant.header_value
    )
    url = target.url(variant)
    server = target.server(variant)
    before = cpu_reading(server, target.database)
    done = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [
            wrk,
            f"--threads={args.wrk_threads}",
            f"--connections={args.connections}",
            f"--duration={seconds}s",
            f"--script={WRK_SCRIPT}",
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if server.records_usage:
        # The flushing this run caused belongs to its CPU time.
        wait_until_flushed(target.usage, time.monotonic())
    after = cpu_reading(server, target.database)
    lines = [
        line for line in done.stdout.splitlines() if line.startswith(RESULT_MARKER)
    ]
    if done.returncode != 0 or not lines:
        raise BenchError(f"wrk failed on {url}:\n{done.stdout}{done.stderr}")
    result = json.loads(lines[-1].removeprefix(RESULT_MARKER))
    if result["non_2xx"]:
        raise BenchError(
            f"{variant.name}: {result['non_2xx']} of {result['requests']} "
            "responses were not 2xx or 3xx."
        )
    elapsed = result["duration_us"] / 1e6
    server_cpu_ms = foreign_cpus = None
    if before is not None and after is not None:
        server_cpu = after.server - before.server
        own = server_cpu + after.load_generator - before.load_generator
        server_cpu_ms = server_cpu * 1000 / max(result["requests"], 1)
        # Over the whole reading, which outlasts wrk's run by the flush wait.
        foreign_cpus = max(after.machine - before.machine - own, 0.0) / (
            after.at - before.at
        )
    return Sample(
        requests_per_second=result["requests"] / elapsed,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        socket_errors=sum(
            result[k]
            for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
        ),
        responses=result["requests"],
        server_cpu_ms=server_cpu_ms,
        foreign_cpus=foreign_cpus,
    )


def quiet_sample(
    wrk: str, target: Target, variant: Variant, args: argparse.Namespace
) -> tuple[Sample, list[Sample]]:
    """A measured run once the machine is quiet, repeated (``--retries``
    times at most) while other processes kept more than ``--max-foreign-cpu``
    CPUs busy during it.

    Returns the least disturbed attempt, and every attempt.
    """
    wait_for_quiet(args.max_foreign_cpu, args.quiet_wait)
    attempts = [wrk_run(wrk, target, variant, args.duration, args)]
    while len(attempts) <= args.retries:
        foreign = attempts[-1].foreign_cpus
        if foreign is None or foreign <= args.max_foreign_cpu:
            break
        print(
            f"  {variant.name}: other processes kept {foreign:.2f} CPUs busy; "
            "repeating this run",
            flush=True,
        )
        wait_for_quiet(args.max_foreign_cpu, args.quiet_wait)
        attempts.append(wrk_run(wrk, target, variant, args.duration, args))
    best = min(attempts, key=lambda sample: sample.foreign_cpus or 0.0)
    return best, attempts


def _describe(sample: Sample) -> str:
    text = (
        f"{sample.requests_per_second:8.0f} req/s  p50 {sample.p50_ms:6.2f} ms"
        f"  p99 {sample.p99_ms:6.2f} ms"
    )
    if sample.server_cpu_ms is not None and sample.foreign_cpus is not None:
        text += (
            f"  server CPU {sample.server_cpu_ms:5.2f} ms/request"
            f"  others {sample.foreign_cpus:4.2f} CPUs"
        )
    return text


def measure(
    wrk: str, target: Target, variants: Sequence[Variant], args: argparse.Namespace
) -> tuple[list[Summary], int]:
    """Interleaved rounds; returns the summaries and the number of repeats."""
    summaries = [Summary(variant) for variant in variants]
    if args.warmup:
        print(f"Warming up: {args.warmup}s per set-up.", flush=True)
        for summary in summaries:
            warm = wrk_run(wrk, target, summary.variant, args.warmup, args)
            summary.served += warm.responses
    repeats = 0
    for round_index in range(args.rounds):
        shift = round_index % len(summaries)
        for summary in summaries[shift:] + summaries[:shift]:
            sample, attempts = quiet_sample(wrk, target, summary.variant, args)
            summary.samples.append(sample)
            summary.served += sum(attempt.responses for attempt in attempts)
            repeats += len(attempts) - 1
            print(
                f"round {round_index + 1}/{args.rounds}  "
                f"{summary.variant.name:<22} {_describe(sample)}",
                flush=True,
            )
    return summaries, repeats


# --- over-admission under concurrency ---------------------------------------------

CONCURRENCY_WORKERS = 2
CONCURRENCY_THREADS = 8
CONCURRENCY_LIMIT = 50  # both limits: the key's 50/m, DRF's "bench" 50/min
# Fire only when at least this many seconds remain in the key's rate window.
MIN_WINDOW_LEFT = 20.0


@dataclass(frozen=True)
class Burst:
    label: str
    statuses: dict[int, int]
    seconds: float
    waited: float  # seconds waited for a fresh rate window first

    @property
    def admitted(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def refused(self) -> int:
        return self.statuses.get(429, 0)

    @property
    def other(self) -> int:
        return sum(n for code, n in self.statuses.items() if code not in (200, 429))


def _status(url: str, headers: dict[str, str]) -> int:
    try:
        return _get(url, headers)[0]
    except OSError:
        return 0  # no answer: counted apart from 200 and 429


def burst(
    label: str, url: str, headers: dict[str, str], args: argparse.Namespace
) -> Burst:
    """``--concurrency-requests`` GETs from ``--concurrency-clients`` threads
    at once (they wait at a barrier); the count of each status."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    clients = min(args.concurrency_clients, args.concurrency_requests)
    start = Barrier(clients)

    def call(index: int) -> int:
        if index < clients:
            start.wait()
        return _status(url, headers)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        codes = list(pool.map(call, range(args.concurrency_requests)))
    elapsed = time.monotonic() - started
    statuses: dict[int, int] = {}
    for code in codes:
        statuses[code] = statuses.get(code, 0) + 1
    return Burst(label, dict(sorted(statuses.items())), elapsed, 0.0)


def wait_for_fresh_window(key_id: int) -> float:
    """Sleep until at least MIN_WINDOW_LEFT seconds remain in the key's
    one-minute window (django-ratelimit staggers its end per key); returns
    the seconds slept."""
    from django_ratelimit.core import _get_window

    # The window named by its last second w takes calls up to w inclusive
    # (django-ratelimit's ``_get_window``): it ends at w + 1.
    left = _get_window(f"key:{key_id}", 60) + 1 - time.time()
    if left >= MIN_WINDOW_LEFT:
        print(f"  {left:.1f}s left in the key's rate window: no wait", flush=True)
        return 0.0
    wait = left + 0.5  # into the next window, which then has ~59.5 s left
    print(
        f"  only {left:.1f}s left in the key's rate window: waiting {wait:.1f}s "
        "for the next one",
        flush=True,
    )
    time.sleep(wait)
    return wait


def over_admission(
    env: dict[str, str], keys: dict, args: argparse.Namespace
) -> list[Burst]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    print(
        f"Over-admission: gunicorn with {CONCURRENCY_WORKERS} gthread workers x "
        f"{CONCURRENCY_THREADS} threads, {args.concurrency_requests} concurrent "
        f"calls from {args.concurrency_clients} client threads per limit.",
        flush=True,
    )
    server = gunicorn_start(
        env,
        port,
        workers=CONCURRENCY_WORKERS,
        worker_class="gthread",
        threads=CONCURRENCY_THREADS,
    )
    try:
        wait_until_ready(server, base, timeout=60)
        book = f"books/{keys['book_id']}/"
        waited = wait_for_fresh_window(keys["limited_key_id"])
        gatehouse = burst(
            "Gatehouse key, `--rate 50/m` (Redis Lua script)",
            f"{base}/api/books/v1/{book}",
            {"X-API-Key": keys["limited_key"]},
            args,
        )
        gatehouse = Burst(
            gatehouse.label, gatehouse.statuses, gatehouse.seconds, waited
        )
        drf = burst(
            "DRF `ScopedRateThrottle`, `50/min` (history in Redis)",
            f"{base}/bench/drf-throttle/{book}",
            {},
            args,
        )
    finally:
        process_stop(server)
    for result in (gatehouse, drf):
        print(
            f"  {result.label}: {result.admitted} x 200, {result.refused} x 429, "
            f"{result.other} other ({result.statuses}) in {result.seconds:.2f}s",
            flush=True,
        )
    print(
        f"over-admission: Gatehouse {gatehouse.admitted} admitted of limit "
        f"{CONCURRENCY_LIMIT} (exactly {CONCURRENCY_LIMIT} expected), DRF "
        f"ScopedRateThrottle {drf.admitted} admitted",
        flush=True,
    )
    return [gatehouse, drf]


# --- usage recording -----------------------------------------------------------

# Issue #6: with recording on, at least this share of the requests/s.
RECORDING_TARGET = 0.95


@dataclass(frozen=True)
class RecordingCheck:
    """What the roll-ups hold for the benchmark key on the real route after
    the load, against what wrk counted."""

    route: str
    by_level: dict[str, int]  # 2xx calls at each granularity ("m", "h", "d")
    counted: int  # 2xx responses wrk counted from the recording server
    unrecorded: int | None  # and from the one with recording off, if it ran

    @property
    def recorded(self) -> int:
        return self.by_level.get("d", 0)

    @property
    def levels_agree(self) -> bool:
        return set(self.by_level) == {"m", "h", "d"} and (
            len(set(self.by_level.values())) == 1
        )

    @property
    def all_recorded(self) -> bool:
        return self.recorded >= self.counted

    @property
    def none_from_unrecorded(self) -> bool:
        # Had the server with recording off recorded its calls as well, the
        # roll-ups would hold at least both counts together.
        return not self.unrecorded or self.recorded < self.counted + self.unrecorded

    @property
    def passed(self) -> bool:
        return self.all_recorded and self.none_from_unrecorded and self.levels_agree

    def describe(self) -> str:
        levels = ", ".join(
            f"{name} {self.by_level.get(code, 0)}"
            for code, name in (("m", "minute"), ("h", "hour"), ("d", "day"))
        )
        text = (
            "Recorded: after a last `flush_usage --once`, the roll-ups hold "
            f"{self.recorded} 2xx calls with the benchmark key on `{self.route}` "
            f"({levels}); wrk counted {self.counted} from the recording server"
        )
        if self.unrecorded is not None:
            text += f" and {self.unrecorded} from the one with recording off"
        if self.passed:
            text += (
                ". Check passed: every call wrk counted is recorded (the "
                f"{self.recorded - self.counted} more are calls wrk does not "
                "count: in flight when a run stopped, and the set-up checks), "
            )
            if self.unrecorded:
                text += "none from the server with recording off, "
            return text + "and the minute, hour and day roll-ups agree."
        failures = []
        if not self.all_recorded:
            failures.append(f"{self.counted - self.recorded} calls are missing")
        if not self.none_from_unrecorded:
            failures.append("the server with recording off recorded its calls too")
        if not self.levels_agree:
            failures.append("the minute, hour and day roll-ups disagree")
        return text + ". **Check failed**: " + "; ".join(failures) + "."


def recording_check(
    env: dict[str, str], usage: dict, summaries: Sequence[Summary]
) -> RecordingCheck:
    """Run ``flush_usage --once`` for anything still buffered, then sum the
    key's 2xx calls on the real route at each roll-up level."""
    done = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, "manage.py", "flush_usage", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"flush_usage --once failed:\n{done.stderr.strip()}")
    query = sql.SQL(
        "SELECT granularity, SUM(calls) FROM {} WHERE key_id = %s AND route = %s "
        "AND status BETWEEN 200 AND 299 GROUP BY granularity"
    ).format(sql.Identifier(usage["table"]))
    with psycopg.connect(env["DATABASE_URL"], connect_timeout=5) as conn:
        rows = conn.execute(query, (usage["key_id"], usage["route"])).fetchall()
    served = {summary.variant.name: summary.served for summary in summaries}
    return RecordingCheck(
        route=usage["route"],
        by_level={granularity: int(calls) for granularity, calls in rows},
        counted=served["gatehouse"],
        unrecorded=served.get("gatehouse-no-recording"),
    )


def recording_note(summaries: Sequence[Summary], check: RecordingCheck) -> str:
    """Recording on against off for the Gatehouse key, and the check."""
    by_name = {summary.variant.name: summary for summary in summaries}
    on, off = by_name["gatehouse"], by_name.get("gatehouse-no-recording")
    if off is None:
        return check.describe()
    ratio = on.requests_per_second / off.requests_per_second
    per_round = ", ".join(
        f"{a.requests_per_second / b.requests_per_second:.2f}"
        for a, b in zip(on.samples, off.samples, strict=True)
    )
    verdict = "met" if ratio >= RECORDING_TARGET else "**not met**"
    return (
        "Usage recording: the Gatehouse key served "
        f"{on.requests_per_second:.0f} requests/s with recording on and "
        f"{off.requests_per_second:.0f} with it off (a second gunicorn with "
        f"`USAGE_RECORDING=False`): **{ratio:.2f}** of it (target at least "
        f"{RECORDING_TARGET:.2f}: {verdict}); per round {per_round}. Server CPU "
        f"per request {_ms(on.server_cpu_ms)} ms with recording on (`flush_usage` "
        f"and its database work included) against {_ms(off.server_cpu_ms)} ms "
        f"off ({_ratio(on.server_cpu_ms, off.server_cpu_ms)}).\n\n" + check.describe()
    )


# --- report ------------------------------------------------------------------------


def _git(*args: str) -> str:
    git = shutil.which("git")
    if git is None:
        return ""
    done = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [git, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def commit_description() -> str:
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    changed = _git(
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        ":(exclude)benchmarks/RESULTS.md",
    )
    return f"{commit} with local changes" if changed else commit


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_header(args: argparse.Namespace, postgres_version: int) -> str:
    major, minor = divmod(postgres_version, 10000)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"### {stamp}, commit {commit_description()}\n\n"
        f"gunicorn {metadata.version('gunicorn')}; "
        f"{os.cpu_count()} CPUs ({cpu_model()}), "
        f"{platform.system()}, Python {platform.python_version()}, "
        f"Django {metadata.version('django')}, PostgreSQL {major}.{minor}, "
        "Redis on the same machine."
    )


def throughput_header(args: argparse.Namespace) -> str:
    workers = f"{args.workers} {args.worker_class} workers"
    if args.threads:
        workers += f" x {args.threads} threads"
    rounds = (
        f"median of {args.rounds} interleaved rounds"
        if args.rounds > 1
        else "one round"
    )
    return (
        f"Throughput: {workers}; "
        f"`wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s`, "
        f"{rounds} after {args.warmup}s of warm-up per set-up."
    )


def _ratio(value: float | None, baseline: float | None) -> str:
    return f"{value / baseline:.2f}" if value is not None and baseline else "-"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def results_table(
    summaries: Sequence[Summary], repeats: int, max_foreign_cpu: float
) -> str:
    """The Markdown table; every ratio is the set-up's value over the
    baseline's (higher is better for requests/s, lower for the rest)."""
    base = summaries[0]
    lines = [
        "| Set-up | Requests/s | vs baseline | p50 ms | vs baseline "
        "| p99 ms | vs baseline | Server CPU ms/request | vs baseline "
        "| Requests/s per round |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for summary in summaries:
        rounds = ", ".join(f"{s.requests_per_second:.0f}" for s in summary.samples)
        lines.append(
            f"| {summary.variant.label} "
            f"| {summary.requests_per_second:.0f} "
            f"| {_ratio(summary.requests_per_second, base.requests_per_second)} "
            f"| {_ms(summary.p50_ms)} | {_ratio(summary.p50_ms, base.p50_ms)} "
            f"| {_ms(summary.p99_ms)} | {_ratio(summary.p99_ms, base.p99_ms)} "
            f"| {_ms(summary.server_cpu_ms)} "
            f"| {_ratio(summary.server_cpu_ms, base.server_cpu_ms)} "
            f"| {rounds} |"
        )
    notes = []
    foreign = [
        s.foreign_cpus
        for summary in summaries
        for s in summary.samples
        if s.foreign_cpus is not None
    ]
    if foreign:
        notes.append(
            f"Other processes kept {statistics.median(foreign):.2f} CPUs busy "
            f"during a measured run (median; at most {max(foreign):.2f}). Runs "
            f"above {max_foreign_cpu:.2f} are repeated: {repeats} were."
        )
    errors = sum(s.socket_errors for summary in summaries for s in summary.samples)
    if errors:
        notes.append(f"wrk counted {errors} socket errors across the measured runs.")
    return "\n".join(lines + ([""] + notes if notes else []))


def queries_note(queries: dict, variants: Sequence[Variant]) -> str:
    labels = {variant.name: variant.label for variant in variants}
    parts = [
        f"{labels.get(name, name)} {counts['warm']} (first call {counts['cold']})"
        for name, counts in queries.items()
    ]
    return (
        "Database queries per warm call (counted in process with "
        "`CaptureQueriesContext`, third call; the first call in brackets): "
        + "; ".join(parts)
        + "."
    )


def over_admission_table(bursts: Sequence[Burst], args: argparse.Namespace) -> str:
    lines = [
        f"Over-admission under concurrency: gunicorn with {CONCURRENCY_WORKERS} "
        f"gthread workers x {CONCURRENCY_THREADS} threads; "
        f"{args.concurrency_requests} GETs of the book from "
        f"{args.concurrency_clients} client threads at once, per limit of "
        f"{CONCURRENCY_LIMIT} a minute.",
        "",
        "| Throttle | Admitted (200) | Refused (429) | Other | Limit | "
        "Over-admitted | Seconds |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in bursts:
        lines.append(
            f"| {result.label} | {result.admitted} | {result.refused} "
            f"| {result.other} | {CONCURRENCY_LIMIT} "
            f"| {max(result.admitted - CONCURRENCY_LIMIT, 0)} "
            f"| {result.seconds:.2f} |"
        )
    waited = bursts[0].waited
    lines += [
        "",
        "The Gatehouse burst started with at least "
        f"{MIN_WINDOW_LEFT:.0f}s left in the key's rate window"
        + (f" (waited {waited:.1f}s for a fresh one)." if waited else "."),
    ]
    return "\n".join(lines)


def results_append(text: str) -> None:
    existing = RESULTS.read_text() if RESULTS.exists() else ""
    RESULTS.write_text(existing.rstrip("\n") + "\n\n" + text + "\n")


# --- the run -----------------------------------------------------------------------


def variants_for(keys: dict, *, recording_off: bool) -> list[Variant]:
    bearer = f"Bearer {keys['access_token']}"
    variants = [
        Variant(
            name="baseline",
            label="No authentication (baseline)",
            path="/bench/baseline/books/{book_id}/",
        ),
        Variant(
            name="gatehouse",
            label="Gatehouse key (`X-API-Key`)",
            path="/api/books/v1/books/{book_id}/",
            header_name="X-API-Key",
            header_value=keys["gatehouse_key"],
        ),
        Variant(
            name="gatehouse-per-call",
            label="Gatehouse key, limits counted in Redis on every call (no leases)",
            path="/bench/limits-per-call/books/{book_id}/",
            header_name="X-API-Key",
            header_value=keys["gatehouse_key"],
        ),
        Variant(
            name="gatehouse-get-usage",
            label="Gatehouse key, django-ratelimit `get_usage` per tier and quota",
            path="/bench/ratelimit-get-usage/books/{book_id}/",
            header_name="X-API-Key",
            header_value=keys["gatehouse_key"],
        ),
        Variant(
            name="gatehouse-oauth",
            label="Gatehouse OAuth token (`Authorization: Bearer`)",
            path="/api/books/v1/books/{book_id}/",
            header_name="Authorization",
            header_value=bearer,
        ),
        Variant(
            name="drf-api-key",
            label="djangorestframework-api-key (`HasAPIKey`)",
            path="/bench/drf-api-key/books/{book_id}/",
            header_name="Authorization",
            header_value=f"Api-Key {keys['drf_api_key']}",
        ),
        Variant(
            name="dot-oauth",
            label="django-oauth-toolkit (`OAuth2Authentication` + `TokenHasScope`)",
            path="/bench/dot-oauth/books/{book_id}/",
            header_name="Authorization",
            header_value=bearer,
        ),
    ]
    if recording_off:
        # Right after the recording Gatehouse key, so that the rounds' turns
        # mostly run the two back to back.
        variants.insert(
            2,
            Variant(
                name="gatehouse-no-recording",
                label="Gatehouse key, usage recording off (`USAGE_RECORDING=False`)",
                path="/api/books/v1/books/{book_id}/",
                header_name="X-API-Key",
                header_value=keys["gatehouse_key"],
                server=UNRECORDED,
            ),
        )
    return variants


def throughput(
    wrk: str,
    env: dict[str, str],
    keys: dict,
    variants: Sequence[Variant],
    args: argparse.Namespace,
) -> list[str]:
    """The throughput rounds; returns the report's sections."""
    servers: dict[str, Server] = {}
    processes: list[subprocess.Popen] = []
    try:
        flusher = flusher_start(env)
        processes.append(flusher)
        ports = {MAIN: args.port or free_port()}
        if any(variant.server == UNRECORDED for variant in variants):
            ports[UNRECORDED] = free_port()
        for name, port in ports.items():
            recording = name == MAIN
            process = gunicorn_start(
                env if recording else {**env, "USAGE_RECORDING": "False"},
                port,
                workers=args.workers,
                worker_class=args.worker_class,
                threads=args.threads,
            )
            processes.append(process)
            servers[name] = Server(
                base=f"http://127.0.0.1:{port}",
                pids=(process.pid, flusher.pid) if recording else (process.pid,),
                records_usage=recording,
            )
        for process, server in zip(processes[1:], servers.values(), strict=True):
            wait_until_ready(process, server.base, timeout=60)
        usage = keys["usage"]
        target = Target(
            servers=servers,
            book_id=keys["book_id"],
            database=args.database_name,
            usage=UsageQueue(
                redis_url=args.redis_url,
                pending_key=usage["pending_key"],
                claims_key=usage["claims_key"],
                ship_interval=usage["ship_interval"],
            ),
        )
        check_variants(target, variants)
        summaries, repeats = measure(wrk, target, variants, args)
    finally:
        # The web servers first: they ship what they still hold as they exit.
        for process in reversed(processes):
            process_stop(process)
    check = recording_check(env, keys["usage"], summaries)
    note = recording_note(summaries, check)
    print(note, flush=True)
    return [
        throughput_header(args),
        results_table(summaries, repeats, args.max_foreign_cpu),
        note,
    ]


def run(args: argparse.Namespace) -> str:
    wrk = "" if args.skip_throughput else require_wrk()
    redis_flush(args.redis_url)
    postgres_version = database_create(args.postgres_url, args.database_name)
    try:
        env = bench_environment(
            database_url=_database_url(args.postgres_url, args.database_name),
            redis_url=args.redis_url,
        )
        print(f"Preparing database {args.database_name} ...", flush=True)
        keys = prepare(env)
        variants = variants_for(keys, recording_off=not args.skip_recording)
        sections = [queries_note(keys["queries"], variants)]
        print(sections[0], flush=True)
        if not args.skip_throughput:
            sections[:0] = throughput(wrk, env, keys, variants, args)
        if not args.skip_concurrency:
            sections.append(over_admission_table(over_admission(env, keys, args), args))
    finally:
        try:
            database_drop(args.postgres_url, args.database_name)
            redis_flush(args.redis_url)
        except BenchError as error:
            print(f"Cleaning up failed: {error}", file=sys.stderr)
    return "\n\n".join([run_header(args, postgres_version), *sections])


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Stopped by Ctrl-C or kill, the run still stops gunicorn and drops its
    # database (the finally in run()); a shell starting it in the background
    # would otherwise leave SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        report = run(args)
    except BenchError as error:
        print(f"benchmarks/run.py: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("benchmarks/run.py: interrupted; nothing recorded.", file=sys.stderr)
        return 130
    print()
    print(report)
    if not args.no_append:
        results_append(report)
        print(f"\nAppended to {RESULTS.relative_to(ROOT)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
