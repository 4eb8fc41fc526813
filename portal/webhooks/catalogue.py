"""The event types a team can subscribe an endpoint (or its inbox) to."""

from __future__ import annotations

EVENT_TYPES: dict[str, str] = {
    "key.created": "An API key was created.",
    "key.rotated": "An API key was rotated; the old one works until its grace ends.",
    "key.revoked": "An API key was revoked.",
    "key.expiring": "An API key expires in 7 days, or in 1 day.",
    "subscription.requested": "An app asked for a plan that needs approval.",
    "subscription.approved": "Staff approved a subscription request.",
    "subscription.rejected": "Staff rejected a subscription request.",
    "subscription.cancelled": "A subscription was cancelled.",
    "quota.threshold": "A subscription used 80% or 100% of its monthly quota.",
    "ratelimit.exceeded": "A key or app was refused by a rate limit "
    "(at most one event per credential per 5 minutes, with the count).",
    "team.suspended": "Staff suspended the team: every credential is revoked.",
    "oauth.client_secret_rotated": "An app's OAuth client secret was rotated.",
    "webhook.test": 'Sent by the "send test event" button.',
}

SUBSCRIBABLE = [name for name in EVENT_TYPES if name != "webhook.test"]
