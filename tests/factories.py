"""factory_boy factories for the whole suite; exposed as fixtures in conftest."""

from __future__ import annotations

import factory
from django.utils import timezone

from portal.accounts.models import Membership, Role, Team, User
from portal.oauth.models import App

PASSWORD = "correct-horse-battery-staple-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    email_verified_at = factory.LazyFunction(timezone.now)
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    role = Role.MEMBER


class AppFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = App

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"App {n}")
    slug = factory.Sequence(lambda n: f"app-{n}")
    client_type = App.CLIENT_CONFIDENTIAL
    authorization_grant_type = App.GRANT_CLIENT_CREDENTIALS


# --- Books API (tests/apis/books) ---------------------------------------------


class AuthorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "books.Author"

    name = factory.Sequence(lambda n: f"Author {n}")
    born = 1950


class BookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "books.Book"

    title = factory.Sequence(lambda n: f"Book {n}")
    author = factory.SubFactory(AuthorFactory)
    year = 2000
    isbn = ""
    summary = ""
