from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from portal.keys.keyformat import is_lookup_id
from portal.keys.models import ApiKey


def api_key_list(*, app) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(app=app).select_related("app__team", "replaces")


def api_key_get(*, app, lookup_id: str) -> ApiKey:
    """The app's key with this lookup id; Http404 for any other."""
    key = None
    if is_lookup_id(lookup_id):
        key = api_key_list(app=app).filter(lookup_id=lookup_id).first()
    if key is None:
        raise Http404("No such key.")
    return key
