from __future__ import annotations

from django.db import models
from django.utils import timezone


class Author(models.Model):
    name = models.CharField(max_length=200)
    born = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=300)
    author = models.ForeignKey(Author, on_delete=models.PROTECT, related_name="books")
    year = models.IntegerField(db_index=True)
    isbn = models.CharField(max_length=13, blank=True)
    summary = models.TextField(blank=True, max_length=5000)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title
