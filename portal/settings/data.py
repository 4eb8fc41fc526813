"""Database, cache and rate-limit storage."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .environment import BASE_DIR, env

__all__ = [
    "CACHES",
    "DATABASES",
    "EMBEDDED",
    "RATELIMIT_FAIL_OPEN",
    "RATELIMIT_LEASE_SECONDS",
    "RATELIMIT_LEASE_SIZE",
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
# With Redis: the most counter values one web process may reserve from a
# bucket with ample room in one round trip (0: count every call in Redis),
# and how long it may hold values it has not used before giving them back.
# See portal/limits/counters.py, Leases.
RATELIMIT_LEASE_SIZE = env.int("RATELIMIT_LEASE_SIZE", default=100)
RATELIMIT_LEASE_SECONDS = env.float("RATELIMIT_LEASE_SECONDS", default=1.0)
if RATELIMIT_LEASE_SIZE != 0 and RATELIMIT_LEASE_SIZE < 8:
    # The smallest block a counter hands out is 8 values.
    raise ImproperlyConfigured("RATELIMIT_LEASE_SIZE must be 0 (off) or at least 8.")
if not 0.05 <= RATELIMIT_LEASE_SECONDS <= 60:
    raise ImproperlyConfigured(
        "RATELIMIT_LEASE_SECONDS must be between 0.05 and 60 seconds."
    )

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
