from django.urls import path

from portal.web import (
    app_pages,
    audit_pages,
    oauth_pages,
    subscription_pages,
    twofactor_pages,
    usage_pages,
    views,
    webhook_pages,
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
    path("teams/<slug:team_slug>/audit/", audit_pages.team_audit, name="team-audit"),
    path(
        "teams/<slug:team_slug>/webhooks/",
        webhook_pages.webhook_list,
        name="webhook-list",
    ),
    path(
        "teams/<slug:team_slug>/webhooks/email/",
        webhook_pages.webhook_email,
        name="webhook-email",
    ),
    path(
        "teams/<slug:team_slug>/webhooks/<int:endpoint_id>/",
        webhook_pages.webhook_detail,
        name="webhook-detail",
    ),
    path(
        "teams/<slug:team_slug>/webhooks/<int:endpoint_id>/rotate-secret/",
        webhook_pages.webhook_rotate_secret,
        name="webhook-rotate-secret",
    ),
    path(
        "teams/<slug:team_slug>/webhooks/<int:endpoint_id>/test/",
        webhook_pages.webhook_test,
        name="webhook-test",
    ),
    path(
        "teams/<slug:team_slug>/webhooks/<int:endpoint_id>/delete/",
        webhook_pages.webhook_delete,
        name="webhook-delete",
    ),
    path(
        "teams/<slug:team_slug>/webhooks/<int:endpoint_id>/deliveries/"
        "<int:delivery_id>/redeliver/",
        webhook_pages.webhook_redeliver,
        name="webhook-redeliver",
    ),
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
    path("account/two-factor/", twofactor_pages.twofactor_manage, name="twofactor"),
    path(
        "account/two-factor/setup/",
        twofactor_pages.twofactor_setup,
        name="twofactor-setup",
    ),
    path(
        "account/two-factor/verify/",
        twofactor_pages.twofactor_verify,
        name="twofactor-verify",
    ),
    path(
        "account/two-factor/recovery-codes/",
        twofactor_pages.twofactor_recovery_codes,
        name="twofactor-recovery-codes",
    ),
    path(
        "account/two-factor/disable/",
        twofactor_pages.twofactor_disable,
        name="twofactor-disable",
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
