from __future__ import annotations

import sys

from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "portal.usage"
    label = "usage"
    verbose_name = "Usage analytics"

    def ready(self) -> None:
        from django.conf import settings

        # `make run`: the development server flushes its own buffer in a
        # background thread (the embedded default's buffer is in process, so
        # no separate flusher could reach it). Only serving processes do:
        # not tests, not management commands.
        serving = "runserver" in sys.argv or "gunicorn" in sys.argv[0]
        if settings.USAGE_BACKGROUND_FLUSH and serving:
            from portal.usage.flushing import background_flusher_start

            background_flusher_start()
