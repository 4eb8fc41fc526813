"""The management API: an app's OAuth client.

The client secret is stored hashed: it is in the response that makes it
(configure, rotate) and in no other.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response

from apis.manage.access import INVALID, NOT_FOUND, TeamScopedApiView
from apis.manage.serializers import (
    NoInput,
    OAuthClientConfigureInput,
    OAuthClientOutput,
    OAuthClientSecretOutput,
    OAuthRedirectUrisInput,
)
from portal.oauth import services as oauth_services
from portal.oauth.models import App

TAGS = ["manage: oauth client"]


def _with_secret(app: App, secret: str | None) -> Response:
    return Response(
        OAuthClientSecretOutput(app, context={"client_secret": secret}).data
    )


class OAuthClientApi(TeamScopedApiView):
    @extend_schema(
        summary="Read the OAuth client",
        tags=TAGS,
        responses={200: OAuthClientOutput, 404: NOT_FOUND},
    )
    def get(self, request, app_id: int):
        """Read the app's OAuth client settings: client id, whether it is
        configured, grant, client type and redirect URIs. Never the secret."""
        return Response(OAuthClientOutput(self.app_for(app_id)).data)

    @extend_schema(
        summary="Configure the OAuth client",
        tags=TAGS,
        request=OAuthClientConfigureInput,
        responses={200: OAuthClientSecretOutput, 400: INVALID, 404: NOT_FOUND},
    )
    def put(self, request, app_id: int):
        """Configure the app as an OAuth client for one ``grant``
        (authorization-code with PKCE, client-credentials or device), as a
        ``confidential`` or ``public`` client, with its ``redirect_uris``
        (required for authorization-code).

        A confidential client gets a new secret, in ``client_secret`` of this
        response only (the previous one stops working); a public client has
        none (null). A public client-credentials client is refused."""
        app = self.app_for(app_id)
        data = OAuthClientConfigureInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        secret = oauth_services.oauth_client_configure(
            app=app,
            grant=fields["grant"],
            public=fields["client_type"] == "public",
            redirect_uris=fields["redirect_uris"],
            actor=self.actor,
            request=request,
        )
        return _with_secret(app, secret)

    @extend_schema(
        summary="Set the redirect URIs",
        tags=TAGS,
        request=OAuthRedirectUrisInput,
        responses={200: OAuthClientOutput, 400: INVALID, 404: NOT_FOUND},
    )
    def patch(self, request, app_id: int):
        """Replace the client's ``redirect_uris`` (the only field that can
        change this way; configure the client with PUT to change the rest).
        https only (http on loopback hosts), matched exactly; an
        authorization-code client keeps at least one."""
        app = self.app_for(app_id)
        data = OAuthRedirectUrisInput(data=request.data)
        data.is_valid(raise_exception=True)
        app = oauth_services.oauth_client_set_redirect_uris(
            app=app,
            redirect_uris=data.validated_data["redirect_uris"],
            actor=self.actor,
            request=request,
        )
        return Response(OAuthClientOutput(app).data)


class OAuthClientSecretRotateApi(TeamScopedApiView):
    @extend_schema(
        summary="Rotate the client secret",
        tags=TAGS,
        request=None,
        responses={
            200: OAuthClientSecretOutput,
            400: INVALID,
            404: NOT_FOUND,
            409: OpenApiResponse(
                description="`not_confidential`: only a configured confidential "
                "client has a secret."
            ),
        },
    )
    def post(self, request, app_id: int):
        """Give a configured confidential client a new secret, in
        ``client_secret`` of this response only. The old secret stops
        working at once. Takes no body (any field is a 400)."""
        app = self.app_for(app_id)
        NoInput(data=request.data).is_valid(raise_exception=True)
        secret = oauth_services.oauth_client_secret_rotate(
            app=app, actor=self.actor, request=request
        )
        return _with_secret(app, secret)
