"""Create (or bring back) the demo users, team and app. Safe to run again."""

from __future__ import annotations

import os
import secrets

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apis.books.seed import books_seed
from apis.registry import SERVED_APIS
from portal.accounts.models import Membership, Role, Team, User
from portal.catalog.models import Plan, Subscription, SubscriptionStatus
from portal.catalog.services import catalog_sync, subscription_create_active
from portal.oauth.models import App
from portal.settings.environment import development_secret

DEMO_USERS = [
    # email, env variable for the password, staff?
    ("admin@example.com", "DEMO_ADMIN_PASSWORD", True),
    ("dev@example.com", "DEMO_DEV_PASSWORD", False),
]


def _password(variable: str) -> str:
    if os.environ.get(variable):
        return os.environ[variable]
    # Kept in the untracked secrets folder so every `make run` prints the same
    # working password.
    return development_secret(variable.lower(), lambda: secrets.token_urlsafe(12))


class Command(BaseCommand):
    help = (
        "Create the demo staff user admin@example.com, the developer "
        "dev@example.com, their team 'demo' and its app 'demo-app' subscribed to "
        "the Books API, and the demo books. Idempotent. "
        "Passwords come from DEMO_ADMIN_PASSWORD / DEMO_DEV_PASSWORD, or are "
        "generated once and printed."
    )

    def handle(self, *args, **options) -> None:
        logins = []
        with transaction.atomic():
            users = {}
            for email, variable, staff in DEMO_USERS:
                password = _password(variable)
                user = User.objects.filter(email__iexact=email).first()
                if user is None:
                    user = User(email=email)
                user.is_staff = user.is_superuser = staff
                user.is_active = True
                user.email_verified_at = user.email_verified_at or timezone.now()
                user.set_password(password)
                user.save()
                users[email] = user
                logins.append((email, password, "staff" if staff else "developer"))
            team, _ = Team.objects.get_or_create(
                slug="demo", defaults={"name": "Demo team"}
            )
            Membership.objects.update_or_create(
                user=users["dev@example.com"],
                team=team,
                defaults={"role": Role.OWNER},
            )
            app, _ = App.objects.get_or_create(
                team=team,
                slug="demo-app",
                defaults={
                    "name": "Demo app",
                    "description": "The app seed_demo creates for trying the API.",
                    "user": users["dev@example.com"],
                    "client_type": App.CLIENT_CONFIDENTIAL,
                    "authorization_grant_type": App.GRANT_CLIENT_CREDENTIALS,
                },
            )
            catalog_sync(specs=SERVED_APIS)
            default_plan = Plan.objects.get(api__slug="books", is_default=True)
            if not Subscription.objects.filter(
                app=app, api=default_plan.api, status=SubscriptionStatus.ACTIVE
            ).exists():
                subscription_create_active(app=app, plan=default_plan)
            created = books_seed()
        if created:
            self.stdout.write(f"Created {created} demo books.")
        self.stdout.write("Demo data ready. Log in at /accounts/login/ with:")
        for email, password, kind in logins:
            self.stdout.write(f"  {kind:<10} {email:<20} password: {password}")
