"""Use cases for the API catalog."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from portal.audit.services import record
from portal.catalog.models import Api, Plan, Scope, Subscription, SubscriptionStatus
from portal.errors import Conflict, InvalidInput
from portal.webhooks.services import emit


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


def _owners_emails(team) -> list[str]:
    return list(
        team.memberships.filter(role="owner", user__is_active=True).values_list(
            "user__email", flat=True
        )
    )


def _notify(subscription: Subscription, template: str, **context) -> None:
    from portal.accounts.mail import email_schedule

    for address in _owners_emails(subscription.app.team):
        email_schedule(
            template=template,
            to=address,
            context={"subscription": subscription, **context},
        )


def _emit(sub: Subscription, type_: str, **extra) -> None:
    emit(
        sub.app.team_id,
        type_,
        {
            "subscription": {
                "id": sub.pk,
                "status": sub.status,
                "api": sub.api.slug,
                "plan": sub.plan.slug,
            },
            "app": {"id": sub.app_id, "slug": sub.app.slug},
            **extra,
        },
    )


def _live(app, api) -> Subscription | None:
    return (
        Subscription.objects.select_for_update()
        .filter(app=app, api=api, status__in=LIVE)
        .first()
    )


LIVE = [SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE]


def subscription_request(*, app, plan: Plan, actor=None, request=None) -> Subscription:
    """Subscribe ``app`` to ``plan``, or move its live subscription to it.

    A plan that needs approval leaves a new subscription pending, or, for a
    change of plan, records the request while the current plan stays in
    force; staff decide. Other plans apply at once. Raises ``Conflict``
    (``already_subscribed``) for the plan the app already has, and
    ``InvalidInput`` for a private plan.
    """
    if not plan.is_public:
        raise InvalidInput("This plan is not open for subscription.", field="plan")
    with transaction.atomic():
        live = _live(app, plan.api)
        if (
            live is not None
            and live.plan_id == plan.pk
            and live.requested_plan_id is None
        ):
            raise Conflict(
                f"{app} is already on the {plan.name} plan.", code="already_subscribed"
            )
        now = timezone.now()
        if live is None:
            live = Subscription.objects.create(
                app=app,
                plan=plan,
                api=plan.api,
                status=SubscriptionStatus.PENDING
                if plan.requires_approval
                else SubscriptionStatus.ACTIVE,
                decided_at=None if plan.requires_approval else now,
            )
            action = (
                "subscription.request"
                if plan.requires_approval
                else "subscription.create"
            )
        elif live.status == SubscriptionStatus.PENDING or not plan.requires_approval:
            old = live.plan
            live.plan = plan
            live.requested_plan = None
            if not plan.requires_approval:
                live.status = SubscriptionStatus.ACTIVE
                live.decided_at = now
            live.save(update_fields=["plan", "requested_plan", "status", "decided_at"])
            action = "subscription.change"
            record(
                action=action,
                actor=actor,
                team=app.team,
                target=live,
                request=request,
                data={"from": old.slug, "to": plan.slug},
            )
            return live
        else:
            live.requested_plan = plan
            live.save(update_fields=["requested_plan"])
            action = "subscription.change_request"
        record(
            action=action,
            actor=actor,
            team=app.team,
            target=live,
            request=request,
            data={"plan": plan.slug, "api": plan.api.slug, "status": live.status},
        )
        if action in ("subscription.request", "subscription.change_request"):
            _emit(live, "subscription.requested", requested_plan=plan.slug)
    return live


def _decide(
    subscription: Subscription, *, approve: bool, actor, reason: str, request
) -> Subscription:
    """Staff's decision on a pending subscription or a requested plan change."""
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if sub.status == SubscriptionStatus.PENDING:
            sub.status = (
                SubscriptionStatus.ACTIVE if approve else SubscriptionStatus.REJECTED
            )
        elif sub.requested_plan_id is not None:
            if approve:
                sub.plan_id = sub.requested_plan_id
            sub.requested_plan = None
        else:
            raise Conflict("Nothing is waiting for approval here.", code="not_pending")
        sub.reason = reason
        sub.decided_at = timezone.now()
        sub.save()
        record(
            action="subscription.approve" if approve else "subscription.reject",
            actor=actor,
            team=sub.app.team,
            target=sub,
            request=request,
            data={"plan": sub.plan.slug, "reason": reason},
        )
        _notify(sub, "subscription_decided", approved=approve)
        _emit(
            sub,
            "subscription.approved" if approve else "subscription.rejected",
            reason=reason,
        )
    return sub


def subscription_approve(
    *, subscription: Subscription, actor=None, reason: str = "", request=None
) -> Subscription:
    """Staff approve a pending subscription or a requested change of plan;
    the team's owners are emailed. Raises ``Conflict`` if nothing waits."""
    return _decide(
        subscription,
        approve=True,
        actor=actor,
        reason=reason.strip()[:500],
        request=request,
    )


def subscription_reject(
    *, subscription: Subscription, actor=None, reason: str = "", request=None
) -> Subscription:
    """Staff reject a pending subscription (or a requested change of plan,
    keeping the current one); a reason is required and mailed to the owners."""
    reason = reason.strip()[:500]
    if not reason:
        raise InvalidInput("Give the developer a reason.", field="reason")
    return _decide(
        subscription, approve=False, actor=actor, reason=reason, request=request
    )


def subscription_cancel(
    *, subscription: Subscription, actor=None, request=None
) -> Subscription:
    """End a live subscription: its app's calls to the API stop at once."""
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if sub.status not in LIVE:
            raise Conflict("This subscription has already ended.", code="not_live")
        sub.status = SubscriptionStatus.CANCELLED
        sub.requested_plan = None
        sub.save(update_fields=["status", "requested_plan"])
        record(
            action="subscription.cancel",
            actor=actor,
            team=sub.app.team,
            target=sub,
            request=request,
        )
        _emit(sub, "subscription.cancelled")
    return sub
