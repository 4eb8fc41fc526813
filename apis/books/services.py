from __future__ import annotations

from django.db import transaction
from django.db.models import ProtectedError

from apis.books.models import Author, Book
from portal.errors import Conflict


def book_create(*, data: dict) -> Book:
    return Book.objects.create(**data)


def book_update(*, book: Book, data: dict) -> Book:
    for field, value in data.items():
        setattr(book, field, value)
    book.save()
    return book


def book_delete(*, book: Book) -> None:
    book.delete()


def author_create(*, data: dict) -> Author:
    return Author.objects.create(**data)


def author_update(*, author: Author, data: dict) -> Author:
    for field, value in data.items():
        setattr(author, field, value)
    author.save()
    return author


def author_delete(*, author: Author) -> None:
    """Delete an author; refused (Conflict) while books still name them."""
    try:
        with transaction.atomic():
            author.delete()
    except ProtectedError as exc:
        # The database decides, so a book added meanwhile is caught too.
        raise Conflict(
            "Delete or reassign this author's books first.", code="author_has_books"
        ) from exc
