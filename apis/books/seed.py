"""A generated demo data set for the Books API (no download)."""

from __future__ import annotations

import random

from django.db import transaction

from apis.books.models import Author, Book

_FIRST = [
    "Ada",
    "Alan",
    "Barbara",
    "Claude",
    "Dorothy",
    "Edsger",
    "Frances",
    "Grace",
    "Hedy",
    "Ivan",
    "Joan",
    "Ken",
    "Linus",
    "Margaret",
    "Niklaus",
    "Olga",
    "Peter",
    "Radia",
    "Sophie",
    "Tim",
    "Ursula",
    "Vint",
    "Whitfield",
    "Xiao",
    "Yukihiro",
    "Zhores",
]
_LAST = [
    "Lovelace",
    "Turing",
    "Liskov",
    "Shannon",
    "Hodgkin",
    "Dijkstra",
    "Allen",
    "Hopper",
    "Lamarr",
    "Sutherland",
    "Clarke",
    "Thompson",
    "Torvalds",
    "Hamilton",
    "Wirth",
    "Taussky",
    "Naur",
    "Perlman",
    "Wilson",
    "Berners-Lee",
    "Franklin",
    "Cerf",
    "Diffie",
    "Matsumoto",
    "Alferov",
    "Kay",
]
_WORDS = [
    "silent",
    "river",
    "garden",
    "machine",
    "number",
    "shadow",
    "winter",
    "letter",
    "island",
    "memory",
    "engine",
    "signal",
    "harbour",
    "empire",
    "forest",
    "mirror",
    "theory",
    "lantern",
    "voyage",
    "circuit",
    "summer",
    "paper",
    "orbit",
    "compass",
    "archive",
    "bridge",
    "code",
    "ember",
    "frontier",
    "glass",
    "horizon",
    "atlas",
    "cipher",
    "network",
    "protocol",
    "kernel",
    "comet",
    "meadow",
    "tide",
    "ledger",
]


def books_seed(*, authors: int = 300, books: int = 3000, seed: int = 1843) -> int:
    """Create the demo authors and books unless there are books already.

    Deterministic for a given ``seed``. Returns the number of books created.
    """
    if Book.objects.exists():
        return 0
    rng = random.Random(seed)  # noqa: S311 - demo data, not a secret
    with transaction.atomic():
        made = Author.objects.bulk_create(
            Author(
                name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                born=rng.randint(1800, 1995),
            )
            for _ in range(authors)
        )
        if made[0].pk is None:  # backends that do not return ids
            made = list(Author.objects.order_by("id"))
        Book.objects.bulk_create(
            (
                Book(
                    title=" ".join(
                        w.capitalize() for w in rng.sample(_WORDS, rng.randint(2, 4))
                    ),
                    author=rng.choice(made),
                    year=rng.randint(1850, 2025),
                    isbn="978" + "".join(str(rng.randint(0, 9)) for _ in range(10)),
                    summary="A generated demo book.",
                )
                for _ in range(books)
            ),
            batch_size=1000,
        )
    return books
