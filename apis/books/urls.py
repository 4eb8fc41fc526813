from django.urls import path

from apis.books import views

app_name = "books"

urlpatterns = [
    path("books/", views.BookListApi.as_view(), name="book-list"),
    path("books/<int:book_id>/", views.BookDetailApi.as_view(), name="book-detail"),
    path("authors/", views.AuthorListApi.as_view(), name="author-list"),
    path(
        "authors/<int:author_id>/",
        views.AuthorDetailApi.as_view(),
        name="author-detail",
    ),
]
