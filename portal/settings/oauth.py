"""django-oauth-toolkit: the portal's App model is its Application."""

from __future__ import annotations

__all__ = ["OAUTH2_PROVIDER", "OAUTH2_PROVIDER_APPLICATION_MODEL"]

# Swapped before the first migration: Django cannot swap a model later.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth.App"

OAUTH2_PROVIDER: dict = {}
