"""One HTTP POST of a signed webhook, to the address that was checked.

No redirects are followed (a 3xx is a failed attempt), at most
WEBHOOKS_MAX_RESPONSE_BYTES of the answer are read, and the whole exchange
(connect, send, wait, read) must finish within WEBHOOKS_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from django.conf import settings

from portal.webhooks.ssrf import Target

USER_AGENT = "Gatehouse-Webhooks/1"


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    excerpt: str
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address; the Host header keeps the name."""

    def __init__(self, target: Target, deadline: _Deadline) -> None:
        super().__init__(target.host, target.port, timeout=deadline.left())
        self._address = target.address
        self._deadline = deadline

    def _open(self) -> socket.socket:
        return socket.create_connection(
            (self._address, self.port), timeout=self._deadline.left()
        )

    def connect(self) -> None:
        self.sock = self._open()


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    def __init__(self, target: Target, deadline: _Deadline) -> None:
        super().__init__(target, deadline)
        self._context = ssl.create_default_context()

    def connect(self) -> None:
        # Certificate and SNI are checked against the host name, not the IP.
        self.sock = self._context.wrap_socket(self._open(), server_hostname=self.host)


def post(target: Target, body: bytes, headers: dict[str, str]) -> Outcome:
    timeout = float(getattr(settings, "WEBHOOKS_TIMEOUT_SECONDS", 5))
    cap = int(getattr(settings, "WEBHOOKS_MAX_RESPONSE_BYTES", 64 * 1024))
    deadline = _Deadline(timeout)
    started = time.monotonic()
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    conn = None
    status = None

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        conn = cls(target, deadline)
        conn.request(
            "POST",
            target.path,
            body=body,
            headers={
                **headers,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            },
        )
        # http.client lets go of the socket once an HTTP/1.0 answer starts;
        # keep it to bound every later read by the deadline.
        sock = conn.sock
        sock.settimeout(deadline.left())
        response = conn.getresponse()
        status = response.status
        chunks, read = [], 0
        while read < cap:
            sock.settimeout(deadline.left())
            chunk = response.read1(min(16 * 1024, cap - read))
            if not chunk:
                break
            chunks.append(chunk)
            read += len(chunk)
        excerpt = b"".join(chunks).decode("utf-8", "replace")[:1000]
        return Outcome(status, elapsed(), excerpt)
    except TimeoutError:
        return Outcome(status, elapsed(), "", f"timed out after {timeout:g} s")
    except ssl.SSLError as error:
        return Outcome(None, elapsed(), "", f"TLS error: {error.reason or error}"[:200])
    except (OSError, http.client.HTTPException) as error:
        return Outcome(status, elapsed(), "", f"{type(error).__name__}: {error}"[:200])
    finally:
        if conn is not None:
            conn.close()
