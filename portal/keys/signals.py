"""Drop cached credential entries (API keys and OAuth access tokens) whenever
something they were built from changes.

Signals rather than calls in each service, so that staff edits in the admin,
django-oauth-toolkit's own token handling and bulk tools invalidate exactly
like the portal does.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.dispatch import receiver
from oauth2_provider.models import get_access_token_model

from portal.accounts.models import Team
from portal.catalog.models import Plan, Scope, Subscription
from portal.keys.credentials import credential_cache_invalidate
from portal.keys.models import ApiKey
from portal.oauth.credentials import token_cache_invalidate
from portal.oauth.models import App

AccessToken = get_access_token_model()


def _invalidate_apps(**app_filters) -> None:
    """Forget every key and token of the apps matching ``app_filters``."""
    apps = App.objects.filter(**app_filters).values("pk")
    credential_cache_invalidate(
        ApiKey.objects.filter(app__in=apps).values_list("lookup_id", flat=True)
    )
    token_cache_invalidate(
        AccessToken.objects.filter(application__in=apps).values_list(
            "token_checksum", flat=True
        )
    )


@receiver(post_save, sender=ApiKey, dispatch_uid="gk.keys.key_saved")
@receiver(post_delete, sender=ApiKey, dispatch_uid="gk.keys.key_deleted")
def key_changed(sender, instance: ApiKey, **kwargs) -> None:
    update_fields = kwargs.get("update_fields")
    if update_fields and set(update_fields) <= {"last_used_at", "name"}:
        return  # nothing the served call reads
    credential_cache_invalidate([instance.lookup_id])


@receiver(post_save, sender=AccessToken, dispatch_uid="gk.keys.token_saved")
@receiver(post_delete, sender=AccessToken, dispatch_uid="gk.keys.token_deleted")
def token_changed(sender, instance, **kwargs) -> None:
    # Revocation deletes the row; rotation and family revocation too.
    if instance.token_checksum:
        token_cache_invalidate([instance.token_checksum])


@receiver(post_save, sender=App, dispatch_uid="gk.keys.app_saved")
@receiver(pre_delete, sender=App, dispatch_uid="gk.keys.app_deleted")
def app_changed(sender, instance: App, **kwargs) -> None:
    if not kwargs.get("created"):
        _invalidate_apps(pk=instance.pk)


@receiver(post_save, sender=Team, dispatch_uid="gk.keys.team_saved")
def team_changed(sender, instance: Team, created: bool, **kwargs) -> None:
    if not created:
        _invalidate_apps(team=instance)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="gk.keys.user")
def user_changed(sender, instance, created: bool, **kwargs) -> None:
    update_fields = kwargs.get("update_fields")
    if created or (update_fields and "is_active" not in update_fields):
        return  # e.g. last_login on every login: credentials do not depend on it
    credential_cache_invalidate(
        ApiKey.objects.filter(created_by=instance).values_list("lookup_id", flat=True)
    )
    token_cache_invalidate(
        AccessToken.objects.filter(user=instance).values_list(
            "token_checksum", flat=True
        )
    )


@receiver(post_save, sender=Subscription, dispatch_uid="gk.keys.sub_saved")
@receiver(post_delete, sender=Subscription, dispatch_uid="gk.keys.sub_deleted")
def subscription_changed(sender, instance: Subscription, **kwargs) -> None:
    _invalidate_apps(pk=instance.app_id)


@receiver(post_save, sender=Plan, dispatch_uid="gk.keys.plan_saved")
def plan_changed(sender, instance: Plan, created: bool, **kwargs) -> None:
    if not created:
        _invalidate_apps(subscriptions__plan=instance)


@receiver(m2m_changed, sender=Plan.scopes.through, dispatch_uid="gk.keys.plan_scopes")
def plan_scopes_changed(sender, instance, action: str, **kwargs) -> None:
    if action in ("post_add", "post_remove", "post_clear") and isinstance(
        instance, Plan
    ):
        _invalidate_apps(subscriptions__plan=instance)


@receiver(pre_delete, sender=Scope, dispatch_uid="gk.keys.scope_deleted")
def scope_deleted(sender, instance: Scope, **kwargs) -> None:
    # Deleting a scope drops it from plans without an m2m_changed signal.
    _invalidate_apps(subscriptions__plan__scopes=instance)
