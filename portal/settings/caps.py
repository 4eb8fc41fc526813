"""Per-account caps: how much one account, team or app may create.

Each keeps one developer (or one stolen session or token) from filling the
database or the key cache; reaching one is a 409 ``limit_reached``.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .environment import env

__all__ = [
    "ACCOUNT_SIGNUPS_PER_IP_PER_DAY",
    "API_KEYS_MAX_ACTIVE_PER_APP",
    "APPS_MAX_PER_TEAM",
    "TEAMS_MAX_OWNED_PER_USER",
]

# Accounts created from one client IP in any 24 hours (counted from the audit
# trail, so it holds across processes and restarts). Attempts are throttled
# separately (ACCOUNT_RATE_PER_IP).
ACCOUNT_SIGNUPS_PER_IP_PER_DAY = env.int("ACCOUNT_SIGNUPS_PER_IP_PER_DAY", default=20)
# Teams a user may own, their personal team included.
TEAMS_MAX_OWNED_PER_USER = env.int("TEAMS_MAX_OWNED_PER_USER", default=20)
# Apps a team may have.
APPS_MAX_PER_TEAM = env.int("APPS_MAX_PER_TEAM", default=50)
# Keys of one app that are neither revoked nor expired. A rotation may go one
# over while the replaced key's grace period lasts.
API_KEYS_MAX_ACTIVE_PER_APP = env.int("API_KEYS_MAX_ACTIVE_PER_APP", default=50)

for _name in __all__:
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1.")
