"""The management API: an app's API keys.

A key is named by its public lookup id. Its full value appears once, in the
response that issues it (create, rotate); only a keyed hash is stored, so no
later response can show it again.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from apis.manage.access import (
    INVALID,
    NOT_FOUND,
    TeamScopedApiView,
    validated_query,
)
from apis.manage.serializers import (
    KeyCreateInput,
    KeyIssuedOutput,
    KeyOutput,
    KeyRevokeInput,
    KeyRotateInput,
    KeyUpdateInput,
    PageQuery,
)
from portal.keys import services as key_services
from portal.keys.models import ApiKey
from portal.keys.selectors import api_key_get, api_key_list

TAGS = ["manage: keys"]
KEY_NOT_USABLE = OpenApiResponse(
    description="`key_revoked` / `key_expired`: the key can no longer change."
)


class KeyApiView(TeamScopedApiView):
    def key_for(self, app_id: int, lookup_id: str) -> ApiKey:
        """The key ``lookup_id`` of the caller's app ``app_id``; Http404 for a
        key of any other app, or an app of another team."""
        return api_key_get(app=self.app_for(app_id), lookup_id=lookup_id)

    def issued(self, issued: key_services.IssuedKey, **kwargs) -> Response:
        return Response(
            KeyIssuedOutput(issued.key, context={"full_key": issued.full_key}).data,
            **kwargs,
        )


class KeyListApi(KeyApiView):
    @extend_schema(
        summary="List an app's keys",
        tags=TAGS,
        parameters=[PageQuery],
        responses={200: KeyOutput(many=True), 404: NOT_FOUND},
    )
    def get(self, request, app_id: int):
        """List the app's keys, newest first, revoked and expired ones too:
        lookup id, name, scopes, expiry, allowed IPs, created and last-used
        times, revocation. Never a key's secret or hash."""
        app = self.app_for(app_id)
        validated_query(PageQuery, request)
        page = self.paginate_queryset(api_key_list(app=app))
        return self.get_paginated_response(KeyOutput(page, many=True).data)

    @extend_schema(
        summary="Issue a key",
        tags=TAGS,
        request=KeyCreateInput,
        responses={
            201: KeyIssuedOutput,
            400: INVALID,
            404: NOT_FOUND,
            409: OpenApiResponse(
                description="`app_suspended`: the app or its team is suspended; "
                "`limit_reached`: the app has as many active keys as allowed."
            ),
        },
    )
    def post(self, request, app_id: int):
        """Issue a key for the app. The response carries the full key in
        ``key``: it is shown this once and can never be read again.

        ``scopes`` must be within what the app's active subscriptions grant
        (left out: all of them); ``expires_at`` must be in the future."""
        app = self.app_for(app_id)
        data = KeyCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        issued = key_services.api_key_issue(
            app=app,
            name=fields["name"],
            scopes=fields.get("scopes"),
            expires_at=fields.get("expires_at"),
            allowed_ips=fields.get("allowed_ips", []),
            actor=self.actor,
            request=request,
        )
        return self.issued(issued, status=status.HTTP_201_CREATED)


class KeyDetailApi(KeyApiView):
    @extend_schema(
        summary="Read a key", tags=TAGS, responses={200: KeyOutput, 404: NOT_FOUND}
    )
    def get(self, request, app_id: int, lookup_id: str):
        """Read one key of the app by its lookup id (never its full value)."""
        return Response(KeyOutput(self.key_for(app_id, lookup_id)).data)

    @extend_schema(
        summary="Change a key",
        tags=TAGS,
        request=KeyUpdateInput,
        responses={200: KeyOutput, 400: INVALID, 404: NOT_FOUND, 409: KEY_NOT_USABLE},
    )
    def patch(self, request, app_id: int, lookup_id: str):
        """Change a key's ``name``, ``scopes`` (within what the app is
        granted), ``expires_at`` (null: never) or ``allowed_ips`` (empty: any
        address). All the fields given change, or none does. A revoked or
        expired key can only be renamed. Changes apply to the key's very next
        call."""
        key = self.key_for(app_id, lookup_id)
        data = KeyUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        changes = data.validated_data
        common = {"actor": self.actor, "request": request}
        # One transaction around the services' own: a refused change (say,
        # scopes on a revoked key) takes back a rename made just before it.
        with transaction.atomic():
            if "name" in changes:
                key = key_services.api_key_rename(
                    key=key, name=changes["name"], **common
                )
            if "scopes" in changes:
                key = key_services.api_key_set_scopes(
                    key=key, scopes=changes["scopes"], **common
                )
            if "expires_at" in changes:
                key = key_services.api_key_set_expiry(
                    key=key, expires_at=changes["expires_at"], **common
                )
            if "allowed_ips" in changes:
                key = key_services.api_key_set_allowed_ips(
                    key=key, allowed_ips=changes["allowed_ips"], **common
                )
        return Response(KeyOutput(key).data)


class KeyRevokeApi(KeyApiView):
    @extend_schema(
        summary="Revoke a key",
        tags=TAGS,
        request=KeyRevokeInput,
        responses={200: KeyOutput, 400: INVALID, 404: NOT_FOUND},
    )
    def post(self, request, app_id: int, lookup_id: str):
        """Revoke a key now, with an optional ``reason``: its next call
        anywhere is refused with 401. Revoking a revoked key changes nothing."""
        key = self.key_for(app_id, lookup_id)
        data = KeyRevokeInput(data=request.data)
        data.is_valid(raise_exception=True)
        key = key_services.api_key_revoke(
            key=key,
            reason=data.validated_data["reason"],
            actor=self.actor,
            request=request,
        )
        return Response(KeyOutput(key).data)


class KeyRotateApi(KeyApiView):
    @extend_schema(
        summary="Rotate a key",
        tags=TAGS,
        request=KeyRotateInput,
        responses={
            201: KeyIssuedOutput,
            400: INVALID,
            404: NOT_FOUND,
            409: OpenApiResponse(
                description="`key_revoked` / `key_expired`: the key can no longer "
                "change; `limit_reached`: a replacement would put the app over its "
                "active-key cap."
            ),
        },
    )
    def post(self, request, app_id: int, lookup_id: str):
        """Replace a key with a new one of the same name, scopes, expiry and
        allowed IPs. The old key keeps working for ``grace_seconds`` (0 to 7
        days, default one day; 0 revokes it now). The response is the new key
        with its full value in ``key``, shown this once; its ``replaces`` is
        the old key's lookup id."""
        key = self.key_for(app_id, lookup_id)
        data = KeyRotateInput(data=request.data)
        data.is_valid(raise_exception=True)
        issued = key_services.api_key_rotate(
            key=key,
            grace=timedelta(seconds=data.validated_data["grace_seconds"]),
            actor=self.actor,
            request=request,
        )
        return self.issued(issued, status=status.HTTP_201_CREATED)
