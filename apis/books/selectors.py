from __future__ import annotations

from django.db.models import QuerySet

from apis.books.models import Author, Book


def book_list(
    *,
    author: int | None = None,
    year: int | None = None,
    search: str | None = None,
    ordering: str | None = None,
) -> QuerySet[Book]:
    books = Book.objects.select_related("author")
    if author is not None:
        books = books.filter(author_id=author)
    if year is not None:
        books = books.filter(year=year)
    if search:
        books = books.filter(title__icontains=search)
    if ordering:
        books = books.order_by(ordering, "id")
    return books


def author_list(*, search: str | None = None) -> QuerySet[Author]:
    authors = Author.objects.all()
    if search:
        authors = authors.filter(name__icontains=search)
    return authors
