from __future__ import annotations

from django.http import Http404
from rest_framework.response import Response

from apis.exceptions import InvalidQuery
from apis.manage.base import ManageApiView
from portal.oauth.models import App
from portal.usage.queries import DEFAULT_RANGE, RANGES, usage_report


class AppUsageApi(ManageApiView):
    """``GET /api/manage/v1/apps/<id>/usage/?range=7d``: the numbers of the
    app's usage charts (calls, 4xx, 5xx, 429s, p50/p95 latency per period,
    top endpoints)."""

    def get(self, request, app_id: int):
        range_name = request.query_params.get("range", DEFAULT_RANGE)
        if range_name not in RANGES:
            raise InvalidQuery(
                {"range": [f"Must be one of {', '.join(RANGES)}."]}, "invalid_query"
            )
        app = App.objects.filter(pk=app_id, team_id__in=self.team_ids()).first()
        if app is None:
            raise Http404
        report = usage_report(range_name, app_id=app.pk)
        return Response({"app": {"id": app.pk, "slug": app.slug}, **report.as_dict()})
