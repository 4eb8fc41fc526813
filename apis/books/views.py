"""The Books API: books and authors. Each class serves one resource path."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apis.base import ServedApiView
from apis.books import selectors, services
from apis.books.models import Author, Book
from apis.books.serializers import (
    AuthorInput,
    AuthorOutput,
    AuthorQuery,
    BookInput,
    BookOutput,
    BookQuery,
)
from apis.pagination import ServedPagination
from apis.schema import PAGE_PARAMETERS, problem_response

READ = ("books:read",)
WRITE = ("books:write",)


class BooksApiView(ServedApiView):
    abstract = True
    api_slug = "books"
    pagination_class = ServedPagination


class BookListApi(BooksApiView):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        summary="List books",
        parameters=[BookQuery, *PAGE_PARAMETERS],
        responses=BookOutput(many=True),
    )
    def get(self, request):
        """Books by title, 20 a page: filter by ``author`` id or ``year``,
        ``search`` in titles, sort with ``ordering``."""
        query = BookQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        params = {
            k: v
            for k, v in query.validated_data.items()
            if k not in ("page", "page_size")
        }
        page = self.paginate_queryset(selectors.book_list(**params))
        return self.get_paginated_response(BookOutput(page, many=True).data)

    @extend_schema(summary="Add a book", request=BookInput, responses={201: BookOutput})
    def post(self, request):
        """Add a book by an existing author (``author_id``)."""
        data = BookInput(data=request.data)
        data.is_valid(raise_exception=True)
        book = services.book_create(data=data.validated_data)
        return Response(BookOutput(book).data, status=status.HTTP_201_CREATED)


class BookDetailApi(BooksApiView):
    required_scopes = {"GET": READ, "PUT": WRITE, "PATCH": WRITE, "DELETE": WRITE}

    def _book(self, book_id: int) -> Book:
        return get_object_or_404(Book.objects.select_related("author"), pk=book_id)

    @extend_schema(summary="Read a book", responses=BookOutput)
    def get(self, request, book_id: int):
        """The book, with its author."""
        return Response(BookOutput(self._book(book_id)).data)

    @extend_schema(summary="Replace a book", request=BookInput, responses=BookOutput)
    def put(self, request, book_id: int):
        """Replace every field of the book."""
        return self._update(request, book_id, partial=False)

    @extend_schema(summary="Change a book", request=BookInput, responses=BookOutput)
    def patch(self, request, book_id: int):
        """Change the fields given; the others stay."""
        return self._update(request, book_id, partial=True)

    def _update(self, request, book_id: int, *, partial: bool):
        book = self._book(book_id)
        data = BookInput(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        book = services.book_update(book=book, data=data.validated_data)
        return Response(BookOutput(book).data)

    @extend_schema(summary="Delete a book", responses={204: None})
    def delete(self, request, book_id: int):
        services.book_delete(book=self._book(book_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuthorListApi(BooksApiView):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        summary="List authors",
        parameters=[AuthorQuery, *PAGE_PARAMETERS],
        responses=AuthorOutput(many=True),
    )
    def get(self, request):
        """Authors by name, 20 a page; ``search`` in names."""
        query = AuthorQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        authors = selectors.author_list(search=query.validated_data.get("search"))
        page = self.paginate_queryset(authors)
        return self.get_paginated_response(AuthorOutput(page, many=True).data)

    @extend_schema(
        summary="Add an author", request=AuthorInput, responses={201: AuthorOutput}
    )
    def post(self, request):
        data = AuthorInput(data=request.data)
        data.is_valid(raise_exception=True)
        author = services.author_create(data=data.validated_data)
        return Response(AuthorOutput(author).data, status=status.HTTP_201_CREATED)


class AuthorDetailApi(BooksApiView):
    required_scopes = {"GET": READ, "PUT": WRITE, "PATCH": WRITE, "DELETE": WRITE}

    @extend_schema(summary="Read an author", responses=AuthorOutput)
    def get(self, request, author_id: int):
        return Response(AuthorOutput(get_object_or_404(Author, pk=author_id)).data)

    @extend_schema(
        summary="Replace an author", request=AuthorInput, responses=AuthorOutput
    )
    def put(self, request, author_id: int):
        """Replace every field of the author."""
        return self._update(request, author_id, partial=False)

    @extend_schema(
        summary="Change an author", request=AuthorInput, responses=AuthorOutput
    )
    def patch(self, request, author_id: int):
        """Change the fields given; the others stay."""
        return self._update(request, author_id, partial=True)

    def _update(self, request, author_id: int, *, partial: bool):
        author = get_object_or_404(Author, pk=author_id)
        data = AuthorInput(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        author = services.author_update(author=author, data=data.validated_data)
        return Response(AuthorOutput(author).data)

    @extend_schema(
        summary="Delete an author",
        responses={
            204: None,
            409: problem_response(
                "author_has_books", description="books still name the author."
            ),
        },
    )
    def delete(self, request, author_id: int):
        """Delete an author who has no books left."""
        services.author_delete(author=get_object_or_404(Author, pk=author_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
