"""Use cases for the API catalog."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from portal.audit.services import record
from portal.catalog.models import Api, Plan, Scope, Subscription, SubscriptionStatus
from portal.errors import Conflict


@dataclass
class SyncReport:
    apis_created: int = 0
    scopes_created: int = 0
    scopes_removed: int = 0
    plans_created: int = 0


def catalog_sync(*, specs: Iterable) -> SyncReport:
    """Bring the Api, Scope and default Plan rows in line with the code.

    APIs and scopes follow their declarations exactly (a scope no longer
    declared is removed, and with it from every plan). Declared plans are only
    created when missing: once they exist, staff edit them in the admin.
    """
    report = SyncReport()
    with transaction.atomic():
        for spec in specs:
            api, created = Api.objects.update_or_create(
                slug=spec.slug,
                defaults={
                    "name": spec.name,
                    "version": spec.version,
                    "base_path": spec.base_path,
                    "description": spec.description,
                },
            )
            report.apis_created += created
            for name, description in spec.scopes.items():
                _, created = Scope.objects.update_or_create(
                    name=name, defaults={"api": api, "description": description}
                )
                report.scopes_created += created
            stale = api.scopes.exclude(name__in=list(spec.scopes))
            report.scopes_removed += stale.count()
            stale.delete()
            for plan_spec in spec.plans:
                if Plan.objects.filter(api=api, slug=plan_spec.slug).exists():
                    continue
                plan = Plan.objects.create(
                    api=api,
                    slug=plan_spec.slug,
                    name=plan_spec.name,
                    description=plan_spec.description,
                    rate_tiers=list(plan_spec.rate_tiers),
                    monthly_quota=plan_spec.monthly_quota,
                    requires_approval=plan_spec.requires_approval,
                    is_default=plan_spec.is_default,
                )
                plan.scopes.set(Scope.objects.filter(name__in=plan_spec.scopes))
                report.plans_created += 1
    return report


def subscription_create_active(*, app, plan: Plan, actor=None) -> Subscription:
    """Subscribe ``app`` to ``plan``, active at once (staff and seed_demo).

    The developer-facing workflow with approvals comes with the limits issue.
    Raises ``Conflict`` (code ``already_subscribed``) if the app already has a
    live subscription to the plan's API.
    """
    with transaction.atomic():
        live = Subscription.objects.filter(
            app=app,
            api=plan.api,
            status__in=[SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE],
        ).first()
        if live is not None:
            raise Conflict(
                f"{app} already has a live subscription to {plan.api.name}.",
                code="already_subscribed",
            )
        subscription = Subscription.objects.create(
            app=app,
            plan=plan,
            api=plan.api,
            status=SubscriptionStatus.ACTIVE,
            decided_at=timezone.now(),
        )
        record(
            action="subscription.create",
            actor=actor,
            team=app.team,
            target=subscription,
            data={"plan": plan.slug, "api": plan.api.slug, "status": "active"},
        )
    return subscription
