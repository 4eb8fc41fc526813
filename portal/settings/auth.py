"""Users, passwords, login, mail."""

from __future__ import annotations

from .environment import env

__all__ = [
    "ACCOUNT_RATES",
    "AUTH_PASSWORD_VALIDATORS",
    "AUTH_USER_MODEL",
    "DEFAULT_FROM_EMAIL",
    "EMAIL_BACKEND",
    "EMAIL_HOST",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_HOST_USER",
    "EMAIL_PORT",
    "EMAIL_USE_SSL",
    "EMAIL_USE_TLS",
    "EMAIL_VERIFICATION_TIMEOUT",
    "LOGIN_REDIRECT_URL",
    "LOGIN_URL",
    "LOGOUT_REDIRECT_URL",
    "OTP_ADMIN_HIDE_SENSITIVE_DATA",
    "OTP_TOTP_ISSUER",
    "PASSWORD_HASHERS",
    "PASSWORD_RESET_TIMEOUT",
    "SERVER_EMAIL",
    "TWOFACTOR_LOGIN_TIMEOUT",
]

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "portal:login"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=60 * 60 * 24)
EMAIL_VERIFICATION_TIMEOUT = env.int(
    "EMAIL_VERIFICATION_TIMEOUT", default=60 * 60 * 24 * 3
)

# Throttles on the account forms, per client IP and per submitted account,
# in django-ratelimit's "count/period" notation.
ACCOUNT_RATES = {
    "ip": env.str("ACCOUNT_RATE_PER_IP", default="30/10m"),
    "account": env.str("ACCOUNT_RATE_PER_ACCOUNT", default="10/10m"),
}

# Two-factor authentication (django-otp). The name authenticator apps show
# next to the account; how long, in seconds, a password accepted at login
# waits for its second factor before the login has to start again.
OTP_TOTP_ISSUER = env.str("TWOFACTOR_ISSUER", default="Gatehouse")
TWOFACTOR_LOGIN_TIMEOUT = env.int("TWOFACTOR_LOGIN_TIMEOUT", default=300)
# The admin django-otp registers must never show a device's key, its QR code
# or recovery codes.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="gatehouse@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
