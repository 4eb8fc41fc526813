from __future__ import annotations

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json


class BodyTooLarge(ParseError):
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE: 413 ``body_too_large``."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "body_too_large"
    problem_code = "body_too_large"


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, also refusing bodies too large or nested too deep.

    DRF 3.15+ hands the parser ``request.body``, where Django has already
    enforced DATA_UPLOAD_MAX_MEMORY_SIZE (``apis.problems`` turns its
    RequestDataTooBig into a 413); were a raw stream passed instead, at most
    one byte past that limit is read here. ``json.loads`` raises
    RecursionError (not ValueError) for a body such as 100,000 ``[``; without
    the catch it would be a 500.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise BodyTooLarge(f"The request body is over the limit of {limit} bytes.")
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        parse_constant = json.strict_constant if self.strict else None
        try:
            return json.loads(raw.decode(encoding), parse_constant=parse_constant)
        except ValueError as exc:  # UnicodeDecodeError is one too
            raise ParseError(f"JSON parse error - {exc}") from exc
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
