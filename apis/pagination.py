from rest_framework.pagination import PageNumberPagination

# The largest page number or page size a query may name (a larger one is a
# 400; a page past the last is a 404, and sizes above 100 give 100).
PAGE_NUMBER_MAX = 10**9


class ServedPagination(PageNumberPagination):
    """``?page=N&page_size=M``; page sizes above 100 are cut to 100."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
