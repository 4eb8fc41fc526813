"""Every URL the project serves, read from the URL configuration itself.

The authorization matrices (test_bola, test_bfla, test_bopla) are built from
``all_routes()``, so a route added tomorrow is in them without anyone
remembering to list it, or makes a coverage test fail until someone says why
it is not.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RoutePattern

METHODS = ("get", "post", "put", "patch", "delete")
# The URL namespaces of the staff side: the Django admin and /staff/.
STAFF_NAMESPACES = ("admin", "dashboard")


@dataclass(frozen=True)
class Route:
    """One URL pattern: its namespaced name, its route as written and the
    names of the parameters it takes, in the order they appear."""

    name: str  # "portal:key-detail"; "" for an unnamed pattern
    route: str  # "teams/<slug:team_slug>/apps/<slug:app_slug>/"
    params: tuple[str, ...]
    callback: object
    namespace: str  # the outermost URL namespace ("portal", "admin", ...)

    @property
    def label(self) -> str:
        return self.name or self.route

    def url(self, **kwargs) -> str:
        return reverse(self.name, kwargs=kwargs)

    @property
    def view_class(self):
        """The class of a class-based (Django or DRF) view, else None."""
        return getattr(self.callback, "view_class", None) or getattr(
            self.callback, "cls", None
        )


def _params(pattern) -> list[str]:
    if isinstance(pattern, RoutePattern):
        return list(pattern.converters)
    return list(pattern.regex.groupindex)


def _walk(patterns, prefix: str, namespace: str, params: list[str]):
    for pattern in patterns:
        here = [*params, *_params(pattern.pattern)]
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = (
                    f"{namespace}:{pattern.namespace}"
                    if namespace
                    else (pattern.namespace)
                )
            yield from _walk(
                pattern.url_patterns, prefix + str(pattern.pattern), inner, here
            )
        elif isinstance(pattern, URLPattern):
            name = ""
            if pattern.name:
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            yield Route(
                name,
                prefix + str(pattern.pattern),
                tuple(here),
                pattern.callback,
                namespace.split(":", 1)[0],
            )


def all_routes() -> list[Route]:
    """Every URL pattern of the project, in resolution order."""
    return list(_walk(get_resolver().url_patterns, "", "", []))


def parameterised_routes() -> list[Route]:
    return [route for route in all_routes() if route.params]


def staff_routes() -> list[Route]:
    """Everything on the staff side: every admin URL (each registered model's
    pages and any custom view a ModelAdmin adds) and /staff/."""
    return [r for r in all_routes() if r.namespace in STAFF_NAMESPACES]


def registered_admin_models() -> list:
    return sorted(admin.site._registry, key=lambda model: model._meta.label)


# Valid bodies for the management API's writes on a Side's own objects (so that
# only access decides the answer); absent: an empty JSON object.
READ_ONLY_PLAN = object()  # replaced by the id of the Books "read-only" plan
MANAGE_BODIES = {
    ("manage:app-list", "post"): {"name": "Fresh app"},
    ("manage:app-detail", "patch"): {"name": "Taken over"},
    ("manage:key-list", "post"): {"name": "Backdoor"},
    ("manage:key-detail", "patch"): {"name": "Taken over", "allowed_ips": []},
    ("manage:key-revoke", "post"): {"reason": "mine now"},
    ("manage:key-rotate", "post"): {"grace_seconds": 0},
    ("manage:oauth-client", "put"): {"grant": "client-credentials"},
    ("manage:oauth-client", "patch"): {"redirect_uris": ["https://evil.example/cb"]},
    ("manage:subscription-list", "post"): {"plan": READ_ONLY_PLAN},
    ("manage:subscription-detail", "patch"): {"plan": READ_ONLY_PLAN},
    ("manage:webhook-list", "post"): {
        "url": "https://93.184.216.34/evil",
        "event_types": ["key.created"],
    },
    ("manage:webhook-detail", "patch"): {"url": "https://93.184.216.34/evil"},
}


def manage_body(name: str, method: str, plan) -> dict:
    body = MANAGE_BODIES.get((name, method), {})
    return {k: plan.pk if v is READ_ONLY_PLAN else v for k, v in body.items()}


# --- two teams, A and B, with one of every team-owned object -------------------

WEBHOOK_URL = "https://93.184.216.34/hooks"  # a public address: no DNS lookup


@dataclass
class Side:
    """One team and one of each object it owns, as the URL parameters name
    them (``team_slug``, ``app_id``, ``lookup_id`` ...)."""

    team: object
    owner: object
    member: object  # the membership of a plain member
    app: object
    key: object
    full_key: str
    subscription: object
    endpoint: object
    delivery: object

    def param(self, name: str):
        """The value of URL parameter ``name`` for this side's object."""
        return {
            "team_slug": self.team.slug,
            "team_id": self.team.pk,
            "app_slug": self.app.slug,
            "app_id": self.app.pk,
            "lookup_id": self.key.lookup_id,
            "subscription_id": self.subscription.pk,
            "membership_id": self.member.pk,
            "endpoint_id": self.endpoint.pk,
            "delivery_id": self.delivery.pk,
        }[name]


# The URL parameters that name a team-owned object, and how each is reached.
TEAM_OWNED_PARAMS = frozenset(
    {
        "team_slug",
        "team_id",
        "app_slug",
        "app_id",
        "lookup_id",
        "subscription_id",
        "membership_id",
        "endpoint_id",
        "delivery_id",
    }
)


def make_side(tag: str, *, owner, plan) -> Side:
    """Team ``tag`` owned by ``owner``, with a plain member, an app on
    ``plan`` with a key, an OAuth client and a token its owner consented to,
    a webhook endpoint with one delivery, and an email preference."""
    import secrets
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model

    from portal.accounts.models import Role
    from portal.catalog.services import subscription_create_active
    from portal.keys.services import api_key_issue
    from portal.oauth.services import oauth_client_configure
    from portal.webhooks import services as webhook_services
    from portal.webhooks.models import Delivery, EmailPreference, Event
    from tests import factories

    team = factories.TeamFactory(name=f"Team {tag}", slug=f"team-{tag}")
    factories.MembershipFactory(user=owner, team=team, role=Role.OWNER)
    member = factories.MembershipFactory(
        user=factories.UserFactory(password=None, email=f"member-{tag}@example.com"),
        team=team,
        role=Role.MEMBER,
    )
    app = factories.AppFactory(team=team, name=f"App {tag}", slug=f"app-{tag}")
    subscription = subscription_create_active(app=app, plan=plan)
    issued = api_key_issue(app=app, name=f"Key {tag}", actor=owner)
    oauth_client_configure(
        app=app,
        grant="authorization-code",
        redirect_uris=[f"https://{tag}.example/callback"],
    )
    get_access_token_model().objects.create(
        user=owner,
        application=app,
        token=secrets.token_urlsafe(30),
        expires=timezone.now() + timedelta(hours=1),
        scope="books:read",
    )
    endpoint, _ = webhook_services.endpoint_create(
        team=team, url=WEBHOOK_URL, event_types=["key.created"], actor=owner
    )
    event = Event.objects.create(team=team, type="key.created", payload={"n": tag})
    delivery = Delivery.objects.create(event=event, endpoint=endpoint, attempts=1)
    EmailPreference.objects.create(membership=member, event_types=["key.created"])
    app.refresh_from_db()
    return Side(
        team=team,
        owner=owner,
        member=member,
        app=app,
        key=issued.key,
        full_key=issued.full_key,
        subscription=subscription,
        endpoint=endpoint,
        delivery=delivery,
    )


def team_rows(team) -> dict:
    """Every stored row a request could change for ``team``, whole."""
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model

    from portal.accounts.models import Membership, Team, User
    from portal.audit.models import AuditEvent
    from portal.catalog.models import Subscription
    from portal.keys.models import ApiKey
    from portal.oauth.models import App
    from portal.webhooks.models import (
        Attempt,
        Delivery,
        EmailPreference,
        Endpoint,
        Event,
    )

    def rows(queryset):
        return list(queryset.order_by("pk").values())

    return {
        "team": rows(Team.objects.filter(pk=team.pk)),
        "memberships": rows(Membership.objects.filter(team=team)),
        "users": rows(User.objects.filter(memberships__team=team)),
        "apps": rows(App.objects.filter(team=team)),
        "keys": rows(ApiKey.objects.filter(app__team=team)),
        "subscriptions": rows(Subscription.objects.filter(app__team=team)),
        "endpoints": rows(Endpoint.objects.filter(team=team)),
        "events": rows(Event.objects.filter(team=team)),
        "deliveries": rows(Delivery.objects.filter(endpoint__team=team)),
        "attempts": rows(Attempt.objects.filter(delivery__endpoint__team=team)),
        "email": rows(EmailPreference.objects.filter(membership__team=team)),
        "access_tokens": rows(
            get_access_token_model().objects.filter(application__team=team)
        ),
        "refresh_tokens": rows(
            get_refresh_token_model().objects.filter(application__team=team)
        ),
        "audit": rows(AuditEvent.objects.filter(team=team)),
    }
