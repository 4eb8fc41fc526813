from django.urls import path

from portal.web import (
    app_pages,
    oauth_pages,
    subscription_pages,
    usage_pages,
    views,
)

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/verify/resend/", views.resend_verification, name="verify-resend"),
    path("accounts/verify/<str:token>/", views.verify_email, name="verify-email"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/change/",
        views.PasswordChangeView.as_view(),
        name="password-change",
    ),
    path(
        "accounts/password/reset/",
        views.PasswordResetView.as_view(),
        name="password-reset",
    ),
    path(
        "accounts/password/reset/sent/",
        views.PasswordResetDoneView.as_view(),
        name="password-reset-done",
    ),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path(
        "accounts/password/reset/complete/",
        views.PasswordResetCompleteView.as_view(),
        name="password-reset-complete",
    ),
    path("apis/", subscription_pages.api_list, name="api-list"),
    path("apis/<slug:api_slug>/", subscription_pages.api_detail, name="api-detail"),
    path(
        "teams/<slug:team_slug>/apps/<slug:app_slug>/subscriptions/",
        subscription_pages.subscribe,
        name="subscribe",
    ),
    path(
        "teams/<slug:team_slug>/apps/<slug:app_slug>/subscriptions/<int:subscription_id>/cancel/",
        subscription_pages.subscription_cancel,
        name="subscription-cancel",
    ),
    path("teams/", views.team_list, name="team-list"),
    path("teams/new/", views.team_create, name="team-create"),
    path("teams/<slug:team_slug>/", views.team_detail, name="team-detail"),
    path("teams/<slug:team_slug>/members/", views.member_add, name="member-add"),
    path(
        "teams/<slug:team_slug>/members/<int:membership_id>/role/",
        views.member_role,
        name="member-role",
    ),
    path(
        "teams/<slug:team_slug>/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member-remove",
    ),
    path("teams/<slug:team_slug>/leave/", views.team_leave, name="team-leave"),
    path("teams/<slug:team_slug>/usage/", usage_pages.team_usage, name="team-usage"),
    path("teams/<slug:team_slug>/apps/new/", app_pages.app_create, name="app-create"),
    path(
        "teams/<slug:team_slug>/apps/<slug:app_slug>/",
        app_pages.app_detail,
        name="app-detail",
    ),
    path(
        "teams/<slug:team_slug>/apps/<slug:app_slug>/usage/",
        usage_pages.app_usage,
        name="app-usage",
    ),
    path(
        "teams/<slug:team_slug>/apps/<slug:app_slug>/calls/",
        usage_pages.app_calls,
        name="app-calls",
    ),
    path(
        "teams/<slug:team_slug>/apps/<slug:app_slug>/oauth/",
        oauth_pages.oauth_client,
        name="oauth-client",
    ),
    path(
        "teams/<slug:team_slug>/apps/<slug:app_slug>/oauth/rotate-secret/",
        oauth_pages.oauth_secret_rotate,
        name="oauth-secret-rotate",
    ),
    path(
        "teams/<slug:team_slug>/apps/<slug:app_slug>/oauth/redirect-uris/",
        oauth_pages.oauth_redirect_uris,
        name="oauth-redirect-uris",
    ),
    path(
        "account/authorized-apps/", oauth_pages.authorized_apps, name="authorized-apps"
    ),
    path(
        "account/authorized-apps/<int:app_id>/revoke/",
        oauth_pages.authorized_app_revoke,
        name="authorized-app-revoke",
    ),
    path(
        "teams/<slug:team_slug>/apps/<slug:app_slug>/keys/new/",
        app_pages.key_create,
        name="key-create",
    ),
    path(
        "teams/<slug:team_slug>/apps/<slug:app_slug>/keys/<str:lookup_id>/",
        app_pages.key_detail,
        name="key-detail",
    ),
    path(
        "teams/<slug:team_slug>/apps/<slug:app_slug>/keys/<str:lookup_id>/usage/",
        usage_pages.key_usage,
        name="key-usage",
    ),
    path(
        "teams/<slug:team_slug>/apps/<slug:app_slug>/keys/<str:lookup_id>/revoke/",
        app_pages.key_revoke,
        name="key-revoke",
    ),
    path(
        "teams/<slug:team_slug>/apps/<slug:app_slug>/keys/<str:lookup_id>/rotate/",
        app_pages.key_rotate,
        name="key-rotate",
    ),
]
