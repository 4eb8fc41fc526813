"""The CSV download of a list of events, for the admin and the portal."""

from __future__ import annotations

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

from portal.audit.models import AuditEvent
from portal.audit.selectors import csv_rows


class _Lines:
    """Hands each CSV line straight back, so rows stream without a buffer."""

    def write(self, line: str) -> str:
        return line


def csv_response(
    events: Iterable[AuditEvent], *, filename: str, client_details: bool = True
) -> StreamingHttpResponse:
    """Stream ``events`` as a CSV attachment (rows from ``csv_rows``)."""
    writer = csv.writer(_Lines())
    response = StreamingHttpResponse(
        (
            writer.writerow(row)
            for row in csv_rows(events, client_details=client_details)
        ),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "no-store"
    return response
