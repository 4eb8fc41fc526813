"""The base of the management API's endpoints over team-owned objects.

Every object is reached through the caller's teams (``team_ids()``): a person
signed in to the portal acts for every team they belong to, an OAuth token for
its own app's team. The portal's role rules apply unchanged: any member of a
team may manage its apps, keys, OAuth clients and subscriptions (the services
say so), and only owners and admins manage members (not offered here).
"""

from __future__ import annotations

from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import OpenApiResponse

from apis.exceptions import InvalidQuery
from apis.manage import selectors
from apis.manage.base import ManageApiView
from apis.pagination import ServedPagination
from portal.accounts.models import User
from portal.keys.credentials import Credential
from portal.oauth.models import App

NOT_FOUND = OpenApiResponse(
    description="`not_found`: no such object among your teams' (problem+json)."
)
INVALID = OpenApiResponse(
    description="`invalid`: invalid or unknown fields, each named in `errors` "
    "(problem+json)."
)


def validated_query(serializer_class, request) -> dict:
    """The query string, validated by a strict serializer; a 400
    ``invalid_query`` naming each bad or unknown parameter."""
    query = serializer_class(data=request.query_params.dict())
    if not query.is_valid():
        raise InvalidQuery(query.errors, "invalid_query")
    return query.validated_data


class TeamScopedApiView(ManageApiView):
    pagination_class = ServedPagination

    def team_ids(self) -> set[int]:
        """The teams this caller acts for (read once per request)."""
        if not hasattr(self, "_team_ids"):
            self._team_ids = super().team_ids()
        return self._team_ids

    @property
    def by_token(self) -> bool:
        """True for a call made with an OAuth token rather than a session."""
        return isinstance(self.request.auth, Credential)

    @property
    def person(self) -> User | None:
        """The signed-in person (None for a token)."""
        return None if self.by_token else self.request.user

    @property
    def actor(self):
        """Who the services record as acting: the person, or for a token its
        ``CredentialUser`` (recorded by its label, ``app:<team>/<app>``)."""
        return self.request.user

    def app_for(self, app_id: int) -> App:
        """The app ``app_id`` of one of the caller's teams; Http404 otherwise."""
        return selectors.app_get(team_ids=self.team_ids(), app_id=app_id)

    def finalize_response(self, request, response, *args, **kwargs):
        # Private, per-caller data, and sometimes a secret shown once: no
        # browser or proxy may keep a copy.
        response = super().finalize_response(request, response, *args, **kwargs)
        add_never_cache_headers(response)
        return response
