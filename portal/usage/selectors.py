"""Reading the usage tables for the portal and the management API."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.usage.models import RecentCall


def recent_call_list(
    *,
    app,
    status: tuple[int, int] | None = None,
    request_id: str = "",
    key_lookup_id: str = "",
) -> QuerySet[RecentCall]:
    """The app's logged calls, newest first, optionally filtered."""
    calls = RecentCall.objects.filter(app_id=app.pk)
    if status is not None:
        calls = calls.filter(status__gte=status[0], status__lt=status[1])
    if request_id:
        calls = calls.filter(request_id=request_id)
    if key_lookup_id:
        calls = calls.filter(key_lookup_id=key_lookup_id)
    return calls.order_by("-at", "-id")
