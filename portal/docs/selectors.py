"""What the docs pages show a signed-in developer about their own apps.

Only public facts: app and key names and lookup ids. A key's secret is never
recoverable (only its keyed hash is stored), so no page can show it.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.catalog.selectors import subscription_active_list
from portal.keys.selectors import api_key_list
from portal.oauth.selectors import app_list

# A hint on a docs page, not an inventory: the first apps are enough.
MAX_APPS = 20


@dataclass(frozen=True)
class KeyHint:
    name: str
    lookup_id: str
    prefix: str  # gk_<env>_<lookup id>_…
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class AppHint:
    name: str
    team_slug: str
    slug: str
    keys: tuple[KeyHint, ...]  # active ones, newest first
    subscribed_apis: tuple[str, ...]  # slugs of active subscriptions

    @property
    def qualified_slug(self) -> str:
        return f"{self.team_slug}/{self.slug}"


def app_hints(*, user) -> list[AppHint]:
    """The user's apps (through their teams) with their active keys and the
    APIs they are actively subscribed to."""
    if user is None or not user.is_authenticated:
        return []
    hints = []
    for app in app_list(user=user).order_by("team__slug", "slug")[:MAX_APPS]:
        keys = tuple(
            KeyHint(
                name=key.name,
                lookup_id=key.lookup_id,
                prefix=key.prefix,
                scopes=tuple(key.scopes),
            )
            for key in api_key_list(app=app)
            if key.is_usable
        )
        apis = tuple(sub.api.slug for sub in subscription_active_list(app=app))
        hints.append(
            AppHint(
                name=app.name,
                team_slug=app.team.slug,
                slug=app.slug,
                keys=keys,
                subscribed_apis=apis,
            )
        )
    return hints
