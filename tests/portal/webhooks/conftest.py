"""A real HTTP receiver on loopback, and a team with an endpoint pointing at it."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

from portal.webhooks import services
from portal.webhooks.catalogue import SUBSCRIBABLE


class Receiver:
    """Records every POST; answers with the next scripted reply (200 after)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        # Set to the endpoint's secret: each request is verified on arrival,
        # as a real receiver does (the library refuses stale timestamps).
        self.secret: str | None = None
        self.replies: list[tuple[int, bytes, dict, float]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    verified = Webhook(receiver.secret).verify(body, headers)
                except Exception as error:  # noqa: BLE001 - kept for the test
                    verified = error
                with receiver.lock:
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": headers,
                            "body": body.decode(),
                            "verified": verified,
                        }
                    )
                    status, reply, headers, delay = (
                        receiver.replies.pop(0)
                        if receiver.replies
                        else (200, b"ok", {}, 0)
                    )
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def reply(self, status: int, body: bytes = b"", *, headers=None, delay=0.0):
        self.replies.append((status, body, headers or {}, delay))

    def events(self, secret: str | None = None) -> list[dict]:
        """Every payload received, each verified on arrival with the
        standardwebhooks library against the endpoint's secret."""
        assert secret is None or secret == self.secret
        out = []
        for request in self.requests:
            if isinstance(request["verified"], Exception):
                raise request["verified"]
            out.append(request["verified"])
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def loopback_allowed(settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True


@pytest.fixture
def endpoint(developer_team, developer, receiver, loopback_allowed):
    """An endpoint for every event type; ``endpoint.secret`` is its secret."""
    endpoint, secret = services.endpoint_create(
        team=developer_team,
        url=receiver.url,
        event_types=list(SUBSCRIBABLE),
        actor=developer,
    )
    endpoint.secret = receiver.secret = secret
    return endpoint


def payloads(receiver: Receiver, secret: str) -> list[dict]:
    return receiver.events(secret)


def dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True)
