from rest_framework.pagination import PageNumberPagination


class ServedPagination(PageNumberPagination):
    """``?page=N&page_size=M``; page sizes above 100 are cut to 100."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
