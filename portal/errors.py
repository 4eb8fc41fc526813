"""The one hierarchy of domain errors.

Each error carries a stable machine ``code``, an HTTP ``status`` and a human
message. Portal views show the message on the form; the API renders it as RFC
9457 problem+json.
"""

from __future__ import annotations


class GatehouseError(Exception):
    status = 400
    code = "error"
    title = "Request failed"

    def __init__(
        self, message: str | None = None, *, code: str | None = None, field=None
    ):
        self.message = message or self.title
        if code:
            self.code = code
        # The form field the message belongs to, if any (None: the whole form).
        self.field = field
        super().__init__(self.message)


class InvalidInput(GatehouseError):
    status = 400
    code = "invalid"
    title = "Invalid input"


class NotFound(GatehouseError):
    status = 404
    code = "not_found"
    title = "Not found"


class Forbidden(GatehouseError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class Conflict(GatehouseError):
    status = 409
    code = "conflict"
    title = "Conflict"
