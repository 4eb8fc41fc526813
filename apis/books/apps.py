from django.apps import AppConfig


class BooksConfig(AppConfig):
    name = "apis.books"
    label = "books"
    verbose_name = "Books API (example)"
