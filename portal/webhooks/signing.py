"""Signing secrets: made, sealed at rest, and used to sign per Standard Webhooks."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets as _secrets
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from standardwebhooks import Webhook


def new_secret() -> str:
    """A fresh ``whsec_`` secret: 32 random bytes, base64."""
    return "whsec_" + base64.b64encode(_secrets.token_bytes(32)).decode()


def _fernet() -> Fernet:
    material = hashlib.sha256(
        b"gatehouse.webhooks.secret:" + settings.SECRET_KEY.encode()
    ).digest()
    return Fernet(base64.urlsafe_b64encode(material))


def seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str:
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken as error:  # SECRET_KEY changed: rotate the secret
        raise ValueError("The signing secret cannot be read; rotate it.") from error


def signed_headers(
    *, secret: str, message_id: str, timestamp: datetime, body: str
) -> dict[str, str]:
    signature = Webhook(secret).sign(message_id, timestamp, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


def body_for(event_id: str, type_: str, created: datetime, data: dict) -> str:
    return json.dumps(
        {
            "id": event_id,
            "type": type_,
            "timestamp": created.isoformat().replace("+00:00", "Z"),
            "data": data,
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def pretty(payload: dict) -> str:
    return json.dumps(payload, indent=2, sort_keys=True)
