"""What a served call leaves in the usage buffer."""

from __future__ import annotations

import time

from portal.keys.credentials import Credential
from portal.usage.recorder import Call, record
from portal.web.client import client_ip

# What a refused call's problem body says about why, kept in the log.
REASON_FIELDS = ("code", "detail", "missing_scopes", "limit", "allowed", "count")


def refused_credential(request, credential: Credential) -> None:
    """Note whose (genuine but refused) credential a call carried, so the
    refusal shows in that app's log. Only for a credential whose secret
    matched: a guessed key id must not write into someone else's log."""
    getattr(request, "_request", request).gatehouse_refused_credential = credential


def record_served_call(
    view, response, started_at: float, started: float, request_id: str
) -> None:
    """Buffer the call ``view`` just answered: ``started_at`` is its wall-clock
    start (the time it is logged and counted under), ``started`` the
    ``perf_counter`` reading its latency is measured from."""
    request = view.request  # DRF's Request
    django_request = getattr(request, "_request", request)
    credential = getattr(request, "_auth", None)
    if not isinstance(credential, Credential):
        credential = getattr(django_request, "gatehouse_refused_credential", None)
    match = django_request.resolver_match
    status = response.status_code
    reason = None
    data = getattr(response, "data", None)
    if status >= 400 and isinstance(data, dict):
        reason = {k: data[k] for k in REASON_FIELDS if k in data}
        if "reset" in data:
            reason["reset"] = data["reset"]
    if credential is not None:
        team_id, app_id = credential.team_id, credential.app_id
        key_id, token_id = credential.key_id or 0, credential.token_id or 0
        lookup, kind = credential.key_lookup_id or "", credential.kind
    else:
        team_id = app_id = key_id = token_id = 0
        lookup = kind = ""
    elapsed = time.perf_counter() - started
    record(
        Call(
            at=started_at,
            team_id=team_id,
            app_id=app_id,
            key_id=key_id,
            token_id=token_id,
            key_lookup_id=lookup,
            credential=kind,
            api=getattr(view, "api_slug", ""),
            route=("/" + match.route)[:255] if match else "",
            # Any token is a method to HTTP; the column keeps 10 characters.
            method=django_request.method[:10],
            status=status,
            latency_ms=elapsed * 1000,
            response_bytes=len(response.content) if not response.streaming else 0,
            client_ip=client_ip(django_request),
            request_id=request_id,
            reason=reason,
        )
    )
