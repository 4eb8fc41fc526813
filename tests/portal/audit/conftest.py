"""Clients that come from a known address with a known browser, so a test can
check that the audit trail wrote down where each action came from."""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from portal.audit.models import AuditEvent

IP = "203.0.113.7"
USER_AGENT = "AuditCheck/1.0 (Gatehouse tests)"


def browser() -> Client:
    """A test client from ``IP`` with ``USER_AGENT`` on every request."""
    return Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=USER_AGENT)


@pytest.fixture
def visitor(db) -> Client:
    return browser()


@pytest.fixture
def member_browser(user) -> Client:
    """``user`` (owner of ``team``) logged in, from ``IP`` with ``USER_AGENT``."""
    client = browser()
    client.force_login(user)
    return client


def the_event(action: str) -> AuditEvent:
    """The one event with this action (fails if there is none, or several)."""
    return AuditEvent.objects.get(action=action)


def assert_from_browser(event: AuditEvent) -> None:
    assert event.ip == IP
    assert event.user_agent == USER_AGENT


def assert_target(event: AuditEvent, obj) -> None:
    assert event.target_type == obj._meta.label
    assert event.target_id == str(obj.pk)
    assert event.target_label == str(obj)


@pytest.fixture
def make_event(db):
    """``make_event(action, at=datetime, actor=..., team=..., target=...,
    data=...)``: an event recorded as if by a request from ``ip`` with
    ``user_agent`` (``IP`` and ``USER_AGENT`` unless given) at time ``at``
    (now unless given)."""
    from django.test import RequestFactory

    from portal.audit.services import record

    def make(
        action: str,
        *,
        at: datetime | None = None,
        ip: str = IP,
        user_agent: str = USER_AGENT,
        **fields,
    ) -> AuditEvent:
        request = RequestFactory().get("/", REMOTE_ADDR=ip, HTTP_USER_AGENT=user_agent)
        with time_machine.travel(at or timezone.now(), tick=False):
            return record(action=action, request=request, **fields)

    return make
