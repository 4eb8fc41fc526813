from django.urls import include, path, re_path

from apis.problems import api_not_found
from apis.schema import ALL_APIS, MANAGE_API, documented_apis, schema_view

# Each API's OpenAPI schema at <its base path>schema/ and all of them at
# /api/schema/ (apis/schema.py), ahead of the APIs' own routes.
schema_urlpatterns = [
    path("schema/", schema_view(ALL_APIS), name="api-schema"),
    *[
        path(
            api.schema_path.removeprefix("/api/"),
            schema_view(api),
            name=f"api-schema-{api.slug}",
        )
        for api in documented_apis()
    ],
]

urlpatterns = [
    *schema_urlpatterns,
    path("books/v1/", include("apis.books.urls")),
    path(MANAGE_API.base_path.removeprefix("/api/"), include("apis.manage.urls")),
    # Anything else under /api/ is a problem+json 404, not the portal's page
    # (a newline in the path too: "." would not match it).
    re_path(r"^[\s\S]*$", api_not_found),
]
