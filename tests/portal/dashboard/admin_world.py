"""One row of every model the admin shows, each holding the kinds of secret
the admin must never display; and helpers to walk the admin's pages.

``populate(tag)`` may be called more than once (with different tags) to put
a second row in every table, e.g. to check a change list's query count does
not grow with its rows.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser

from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tasks_db.models import DBTaskResult, get_date_max
from oauth2_provider.models import (
    get_access_token_model,
    get_device_grant_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from apis.books.models import Author, Book
from portal.accounts.models import Role
from portal.catalog.models import Plan
from portal.catalog.services import subscription_create_active
from portal.keys.services import api_key_issue
from portal.oauth.models import UsedAuthorizationCode
from portal.oauth.services import oauth_client_configure
from portal.usage.models import AppUsageRollup, FlushedBatch, RecentCall, UsageRollup
from portal.webhooks import services as webhook_services
from portal.webhooks.models import Attempt, Delivery, EmailPreference
from portal.webhooks.models import Event as WebhookEvent
from tests import factories

REDIRECT_URI = "https://client.example/callback"


@dataclass
class World:
    secrets: list[str] = field(default_factory=list)
    objects: dict = field(default_factory=dict)

    def keep(self, *values: str) -> None:
        self.secrets.extend(v for v in values if v)


def password_secrets(encoded: str) -> list[str]:
    """The stored password and, separately, its salt and hash parts."""
    parts = encoded.split("$")
    return [encoded, *(part for part in parts[-2:] if len(part) >= 8)]


def totp_secrets(device: TOTPDevice) -> list[str]:
    return [device.key, base64.b32encode(device.bin_key).decode().rstrip("=")]


def populate(tag: str, *, plan: Plan) -> World:
    """Rows for every model registered in the admin (see test_admin_models)."""
    world = World()
    now = timezone.now()
    user = factories.UserFactory(email=f"dev-{tag}@example.com")
    world.keep(*password_secrets(user.password))
    team = factories.TeamFactory(name=f"Team {tag}", slug=f"team-{tag}")
    membership = factories.MembershipFactory(user=user, team=team, role=Role.OWNER)
    app = factories.AppFactory(team=team, name=f"App {tag}", slug=f"app-{tag}")
    client_secret = oauth_client_configure(
        app=app, grant="authorization-code", redirect_uris=[REDIRECT_URI]
    )
    app.refresh_from_db()
    world.keep(client_secret, app.client_secret)
    subscription = subscription_create_active(app=app, plan=plan)
    issued = api_key_issue(app=app, name=f"Key {tag}", actor=user)
    world.keep(issued.full_key, issued.key.secret_hash)

    AccessToken = get_access_token_model()
    RefreshToken = get_refresh_token_model()
    access = AccessToken.objects.create(
        user=user,
        application=app,
        token=secrets.token_urlsafe(30),
        expires=now + timedelta(hours=1),
        scope="books:read",
    )
    refresh = RefreshToken.objects.create(
        user=user, application=app, token=secrets.token_urlsafe(30), access_token=access
    )
    world.keep(access.token, access.token_checksum, refresh.token)
    world.keep(getattr(refresh, "token_checksum", ""))
    grant = get_grant_model().objects.create(
        user=user,
        application=app,
        code=secrets.token_urlsafe(30),
        expires=now + timedelta(minutes=1),
        redirect_uri=REDIRECT_URI,
        scope="books:read",
        code_challenge=secrets.token_urlsafe(32),
        code_challenge_method="S256",
        nonce=secrets.token_urlsafe(16),
    )
    world.keep(grant.code, grant.code_challenge, grant.nonce)
    id_token = get_id_token_model().objects.create(
        user=user,
        application=app,
        jti=uuid.uuid4(),
        expires=now + timedelta(hours=1),
        scope="openid",
    )
    device_grant = get_device_grant_model().objects.create(
        user=user,
        device_code=secrets.token_urlsafe(30),
        user_code=secrets.token_hex(4).upper(),
        client_id=app.client_id,
        expires=now + timedelta(minutes=10),
        scope="books:read",
    )
    world.keep(device_grant.device_code, device_grant.user_code)
    used_code = UsedAuthorizationCode.objects.create(
        code_checksum=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
        application=app,
        access_token_checksum=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
        refresh_token_checksum=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
    )
    world.keep(
        used_code.code_checksum,
        used_code.access_token_checksum,
        used_code.refresh_token_checksum,
    )

    totp = TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=True)
    world.keep(*totp_secrets(totp))
    recovery = StaticDevice.objects.create(user=user, name="Recovery codes")
    recovery_code = StaticToken.objects.create(
        device=recovery, token=secrets.token_hex(8)
    )
    world.keep(recovery_code.token)

    reset_token = secrets.token_urlsafe(24)
    task = DBTaskResult.objects.create(
        args_kwargs={
            "args": [],
            "kwargs": {
                "subject": "Reset your password",
                "body": f"https://portal.example/reset/{reset_token}/",
                "to": [user.email],
            },
        },
        task_path="portal.accounts.tasks.email_send",
        backend_name="default",
        run_after=get_date_max(),
        return_value={"echo": reset_token},
    )
    world.keep(reset_token)

    rollup = {
        "granularity": "m",
        "start": now.replace(second=0, microsecond=0),
        "team_id": team.pk,
        "app_id": app.pk,
        "status": 200,
        "calls": 3,
        "latency_ms_sum": 30.0,
    }
    usage = UsageRollup.objects.create(
        **rollup, key_id=issued.key.pk, api="books", route="/books/", method="GET"
    )
    app_usage = AppUsageRollup.objects.create(**rollup)
    recent = RecentCall.objects.create(
        app_id=app.pk,
        at=now,
        request_id=f"req-{tag}",
        method="GET",
        api="books",
        route="/books/",
        status=200,
        latency_ms=4.2,
        key_lookup_id=issued.key.lookup_id,
        credential="api_key",
        client_ip="203.0.113.9",
    )
    batch = FlushedBatch.objects.create(batch_id=f"batch-{tag}", calls=3)
    endpoint, signing_secret = webhook_services.endpoint_create(
        team=team, url="https://93.184.216.34/hooks", event_types=["key.created"]
    )
    world.keep(signing_secret, endpoint.secret_encrypted)
    event = WebhookEvent.objects.create(
        team=team, type="key.created", payload={"key": {"name": f"Key {tag}"}}
    )
    delivery = Delivery.objects.create(event=event, endpoint=endpoint, attempts=1)
    attempt = Attempt.objects.create(
        delivery=delivery, number=1, status_code=500, response_excerpt="nope"
    )
    email_preference = EmailPreference.objects.create(
        membership=membership, event_types=["key.created"]
    )
    author = Author.objects.create(name=f"Author {tag}")
    book = Book.objects.create(title=f"Book {tag}", author=author, year=2001)
    group = Group.objects.create(name=f"Support {tag}")

    world.objects.update(
        user=user,
        team=team,
        membership=membership,
        app=app,
        subscription=subscription,
        key=issued.key,
        access=access,
        refresh=refresh,
        grant=grant,
        id_token=id_token,
        device_grant=device_grant,
        used_code=used_code,
        totp=totp,
        recovery=recovery,
        task=task,
        usage=usage,
        app_usage=app_usage,
        recent=recent,
        batch=batch,
        author=author,
        book=book,
        group=group,
        endpoint=endpoint,
        event=event,
        delivery=delivery,
        attempt=attempt,
        email_preference=email_preference,
    )
    return world


# --- walking the admin --------------------------------------------------------


def registered():
    """Every (model, ModelAdmin) of the admin site, in a stable order."""
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def admin_url(model, name: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}", args=args)


def some_row(model):
    return model._default_manager.order_by("pk").first()


class _FormReader(HTMLParser):
    """What a browser would submit from the form with id ``form_id``."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.data: dict[str, list[str]] = {}
        self._select: tuple[str, bool] | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text: list[str] = []

    def _add(self, name: str, value: str) -> None:
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
            return
        if not self.inside:
            return
        name = attrs.get("name")
        if tag == "input" and name and "disabled" not in attrs:
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "image", "file", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self._add(name, attrs.get("value", "on" if kind == "checkbox" else ""))
        elif tag == "select" and name:
            self._select = (name, "multiple" in attrs)
            self._options = []
        elif tag == "option" and self._select is not None:
            self._options.append((attrs.get("value", ""), "selected" in attrs))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select is not None:
            name, multiple = self._select
            chosen = [value for value, selected in self._options if selected]
            if not chosen and not multiple and self._options:
                chosen = [self._options[0][0]]
            self.data.setdefault(name, []).extend(chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            text = "".join(self._text)
            self._add(self._textarea, text[1:] if text.startswith("\n") else text)
            self._textarea = None


def form_data(response, model=None, *, form_id: str = "", **overrides) -> dict:
    """The change (or add) form of ``model`` on the page of ``response`` (or
    the form ``form_id``) as a browser would post it, with ``overrides`` (a
    list for a multiple choice)."""
    reader = _FormReader(form_id or f"{model._meta.model_name}_form")
    reader.feed(response.content.decode())
    data: dict = {
        name: values if len(values) != 1 else values[0]
        for name, values in reader.data.items()
    }
    data.pop("csrfmiddlewaretoken", None)
    data.update(overrides)
    return data
