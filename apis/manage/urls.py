from django.urls import path

from apis.manage import (
    key_views,
    oauth_views,
    subscription_views,
    views,
    webhook_views,
)

app_name = "manage"

APP = "apps/<int:app_id>/"
KEY = APP + "keys/<str:lookup_id>/"
SUBSCRIPTION = APP + "subscriptions/<int:subscription_id>/"
WEBHOOKS = "teams/<int:team_id>/webhooks/"
ENDPOINT = WEBHOOKS + "<int:endpoint_id>/"

urlpatterns = [
    path("teams/", views.TeamListApi.as_view(), name="team-list"),
    path("teams/<int:team_id>/", views.TeamDetailApi.as_view(), name="team-detail"),
    path("apps/", views.AppListApi.as_view(), name="app-list"),
    path(APP, views.AppDetailApi.as_view(), name="app-detail"),
    path(APP + "usage/", views.AppUsageApi.as_view(), name="app-usage"),
    path(APP + "keys/", key_views.KeyListApi.as_view(), name="key-list"),
    path(KEY, key_views.KeyDetailApi.as_view(), name="key-detail"),
    path(KEY + "revoke/", key_views.KeyRevokeApi.as_view(), name="key-revoke"),
    path(KEY + "rotate/", key_views.KeyRotateApi.as_view(), name="key-rotate"),
    path(
        APP + "oauth-client/",
        oauth_views.OAuthClientApi.as_view(),
        name="oauth-client",
    ),
    path(
        APP + "oauth-client/rotate-secret/",
        oauth_views.OAuthClientSecretRotateApi.as_view(),
        name="oauth-client-secret-rotate",
    ),
    path(
        APP + "subscriptions/",
        subscription_views.SubscriptionListApi.as_view(),
        name="subscription-list",
    ),
    path(
        SUBSCRIPTION,
        subscription_views.SubscriptionDetailApi.as_view(),
        name="subscription-detail",
    ),
    path(
        SUBSCRIPTION + "cancel/",
        subscription_views.SubscriptionCancelApi.as_view(),
        name="subscription-cancel",
    ),
    path(WEBHOOKS, webhook_views.EndpointListApi.as_view(), name="webhook-list"),
    path(ENDPOINT, webhook_views.EndpointDetailApi.as_view(), name="webhook-detail"),
    path(
        ENDPOINT + "rotate-secret/",
        webhook_views.EndpointRotateSecretApi.as_view(),
        name="webhook-rotate-secret",
    ),
    path(
        ENDPOINT + "test/",
        webhook_views.EndpointTestApi.as_view(),
        name="webhook-test",
    ),
    path(
        ENDPOINT + "deliveries/",
        webhook_views.DeliveryListApi.as_view(),
        name="webhook-delivery-list",
    ),
    path(
        ENDPOINT + "deliveries/<int:delivery_id>/redeliver/",
        webhook_views.DeliveryRedeliverApi.as_view(),
        name="webhook-redeliver",
    ),
]
