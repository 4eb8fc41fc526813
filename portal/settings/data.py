"""Database, cache and rate-limit storage."""

from __future__ import annotations

from .environment import BASE_DIR, env

__all__ = [
    "CACHES",
    "DATABASES",
    "EMBEDDED",
    "RATELIMIT_FAIL_OPEN",
    "RATELIMIT_USE_CACHE",
    "REDIS_URL",
    "SILENCED_SYSTEM_CHECKS",
]

DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A new connection per request costs more than the request itself on an
    # authenticated endpoint; keep connections and check them before reuse.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=600)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="gh"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # A Redis outage must not turn into 500s: cache reads miss and
                # writes are dropped, and RATELIMIT_FAIL_OPEN decides limits.
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": env.float(
                    "REDIS_CONNECT_TIMEOUT", default=0.5
                ),
                "SOCKET_TIMEOUT": env.float("REDIS_TIMEOUT", default=0.5),
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "gatehouse",
        }
    }

EMBEDDED = not REDIS_URL

RATELIMIT_USE_CACHE = "default"
RATELIMIT_FAIL_OPEN = env.bool("RATELIMIT_FAIL_OPEN", default=True)

SILENCED_SYSTEM_CHECKS: list[str] = [
    # OAuth: http redirect URIs are allowed only for loopback addresses (RFC
    # 8252 §7.3, native apps); see the note in settings/oauth.py.
    "oauth2_provider.W008",
]
if EMBEDDED:
    # The embedded default is documented as one process on one machine: an
    # in-process cache is exact there. Any multi-process deployment sets
    # REDIS_URL, and then this check is active again.
    SILENCED_SYSTEM_CHECKS += ["django_ratelimit.E003", "django_ratelimit.W001"]
