"""The example Books API's data, for staff to look after like any product's."""

from __future__ import annotations

from django.contrib import admin

from apis.books.models import Author, Book


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ["name", "born", "created_at"]
    search_fields = ["name"]


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "year", "isbn", "updated_at"]
    list_filter = ["year"]
    list_select_related = ["author"]
    search_fields = ["title", "isbn", "author__name"]
    autocomplete_fields = ["author"]
    readonly_fields = ["created_at", "updated_at"]
