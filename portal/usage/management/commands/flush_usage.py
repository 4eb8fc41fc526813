from __future__ import annotations

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.usage.flushing import flush_once, prune


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0
    if not number > 0:
        raise CommandError(f"{value!r} is not a positive number of seconds.")
    return number


class Command(BaseCommand):
    help = (
        "Fold buffered served calls into the usage roll-ups and recent-calls "
        "logs. Runs until stopped (SIGTERM or Ctrl-C finish the current batch "
        "first); --once flushes what is buffered and exits. Run it beside "
        "gunicorn; several at once are safe."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="flush what is buffered and exit"
        )
        parser.add_argument(
            "--interval",
            default=None,
            help="seconds between flushes while there is little to do "
            "(default: USAGE_FLUSH_INTERVAL_SECONDS, 5)",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="calls per batch (default: USAGE_FLUSH_BATCH_SIZE)",
        )

    def handle(self, *args, **options) -> None:
        interval = (
            settings.USAGE_FLUSH_INTERVAL_SECONDS
            if options["interval"] is None
            else _positive_float(options["interval"])
        )
        batch_size = options["batch_size"]
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if options["once"]:
            result = flush_once(batch_size)
            prune()
            self.stdout.write(
                f"Flushed {result.calls} calls in {result.batches} batches."
            )
            return
        stopping = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.append(True))
        self.stdout.write(f"Flushing usage every {interval:g} s (Ctrl-C stops).")
        last_prune = 0.0
        while not stopping:
            try:
                result = flush_once(batch_size, max_batches=20)
                if time.monotonic() - last_prune > 3600:
                    last_prune = time.monotonic()
                    prune()
            except Exception as exc:  # database or Redis down: try again
                self.stderr.write(f"Flush failed ({type(exc).__name__}); retrying.")
                result = None
            if result is None or result.batches < 20:
                deadline = time.monotonic() + interval
                while not stopping and time.monotonic() < deadline:
                    time.sleep(0.1)
        self.stdout.write("Stopped.")
