from __future__ import annotations

from rest_framework import serializers

from apis.books.models import Author, Book
from apis.pagination import PAGE_NUMBER_MAX
from apis.serializers import StrictInputSerializer, StrictQuerySerializer

YEAR_MIN, YEAR_MAX = -3000, 2100


class AuthorOutput(serializers.ModelSerializer):
    class Meta:
        model = Author
        fields = ["id", "name", "born", "created_at"]


class AuthorInput(StrictInputSerializer):
    name = serializers.CharField(max_length=200)
    born = serializers.IntegerField(
        min_value=YEAR_MIN, max_value=YEAR_MAX, required=False, allow_null=True
    )


class BookOutput(serializers.ModelSerializer):
    author = AuthorOutput(read_only=True)

    class Meta:
        model = Book
        fields = [
            "id",
            "title",
            "author",
            "year",
            "isbn",
            "summary",
            "created_at",
            "updated_at",
        ]


class BookInput(StrictInputSerializer):
    title = serializers.CharField(max_length=300)
    author_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    year = serializers.IntegerField(min_value=YEAR_MIN, max_value=YEAR_MAX)
    isbn = serializers.RegexField(
        r"^(\d{9}[\dX]|\d{13})$", required=False, allow_blank=True
    )
    summary = serializers.CharField(max_length=5000, required=False, allow_blank=True)

    def validate_author_id(self, value: int) -> int:
        if not Author.objects.filter(pk=value).exists():
            raise serializers.ValidationError("No author with this id.")
        return value


BOOK_ORDERINGS = ("title", "-title", "year", "-year", "created_at", "-created_at")


class BookQuery(StrictQuerySerializer):
    """The list endpoint's query string, validated like any other input."""

    author = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    year = serializers.IntegerField(
        min_value=YEAR_MIN, max_value=YEAR_MAX, required=False
    )
    search = serializers.CharField(max_length=200, required=False)
    ordering = serializers.ChoiceField(choices=BOOK_ORDERINGS, required=False)
    # A page that is not a positive number is a page that does not exist
    # (404, as DRF's paginator answers); a page size must be a number.
    page = serializers.CharField(max_length=20, required=False)
    page_size = serializers.IntegerField(
        min_value=1, max_value=PAGE_NUMBER_MAX, required=False
    )


class AuthorQuery(StrictQuerySerializer):
    search = serializers.CharField(max_length=200, required=False)
    # A page that is not a positive number is a page that does not exist
    # (404, as DRF's paginator answers); a page size must be a number.
    page = serializers.CharField(max_length=20, required=False)
    page_size = serializers.IntegerField(
        min_value=1, max_value=PAGE_NUMBER_MAX, required=False
    )
