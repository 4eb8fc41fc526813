"""Use cases for accounts, teams and memberships."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from portal.accounts.mail import email_schedule
from portal.accounts.models import Membership, Role, Team, User
from portal.accounts.tokens import email_verification_token
from portal.audit.services import record
from portal.errors import Conflict, Forbidden, InvalidInput

if TYPE_CHECKING:
    from django.http import HttpRequest

# Slugs that would collide with fixed portal URLs under /teams/.
RESERVED_TEAM_SLUGS = frozenset({"new", "join", "settings", "admin", "api"})


def _unique_team_slug(base: str) -> str:
    base = (slugify(base) or "team")[:50].strip("-") or "team"
    slug, n = base, 1
    while slug in RESERVED_TEAM_SLUGS or Team.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def user_signup(
    *, email: str, password: str, name: str = "", request: HttpRequest | None = None
) -> User:
    """Create a developer account with its personal team; mail a verification link.

    Raises ``Conflict`` (code ``email_taken``) if the address is already
    registered in any letter case.
    """
    email = User.objects.normalize_email(email.strip())
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(
            "An account with this email already exists.",
            code="email_taken",
            field="email",
        )
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, name=name)
            team = Team.objects.create(
                name=f"{name or email.split('@')[0]}'s team"[:100],
                slug=_unique_team_slug(email.split("@")[0]),
                is_personal=True,
            )
            Membership.objects.create(user=user, team=team, role=Role.OWNER)
            record(
                action="user.signup",
                actor=user,
                team=team,
                target=user,
                request=request,
            )
            email_verification_send(user=user, request=request)
    except IntegrityError as exc:
        # Two sign-ups with the same address raced past the check above.
        raise Conflict(
            "An account with this email already exists.",
            code="email_taken",
            field="email",
        ) from exc
    return user


def email_verification_send(*, user: User, request: HttpRequest | None) -> None:
    """Mail ``user`` a signed link that confirms their address."""
    path = reverse("portal:verify-email", args=[email_verification_token(user)])
    url = request.build_absolute_uri(path) if request is not None else path
    email_schedule(
        template="verify_email", to=user.email, context={"user": user, "url": url}
    )


def email_verify(*, user: User, request: HttpRequest | None = None) -> bool:
    """Mark ``user``'s address verified. Returns False if it already was."""
    if user.email_verified_at is not None:
        return False
    with transaction.atomic():
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
        record(action="user.email_verified", actor=user, target=user, request=request)
    return True


def team_create(
    *, actor: User, name: str, slug: str = "", request: HttpRequest | None = None
) -> Team:
    """Create a team owned by ``actor``.

    Raises ``InvalidInput`` for a reserved slug and ``Conflict`` (code
    ``slug_taken``) for one in use.
    """
    name = name.strip()
    if not name:
        raise InvalidInput("Give the team a name.", field="name")
    if slug:
        if slug in RESERVED_TEAM_SLUGS:
            raise InvalidInput(
                "This address is reserved; choose another.",
                code="slug_reserved",
                field="slug",
            )
        if Team.objects.filter(slug=slug).exists():
            raise Conflict(
                "A team with this address already exists.",
                code="slug_taken",
                field="slug",
            )
    else:
        slug = _unique_team_slug(name)
    try:
        with transaction.atomic():
            team = Team.objects.create(name=name, slug=slug)
            Membership.objects.create(user=actor, team=team, role=Role.OWNER)
            record(
                action="team.create",
                actor=actor,
                team=team,
                target=team,
                request=request,
            )
    except IntegrityError as exc:
        raise Conflict(
            "A team with this address already exists.",
            code="slug_taken",
            field="slug",
        ) from exc
    return team


def _require_manager(actor_membership: Membership) -> None:
    if not actor_membership.can_manage_members:
        raise Forbidden("Only the team's owners and admins can manage its members.")


def _owner_count(team: Team) -> int:
    return Membership.objects.filter(team=team, role=Role.OWNER).count()


def membership_add(
    *,
    actor_membership: Membership,
    email: str,
    role: str,
    request: HttpRequest | None = None,
) -> Membership:
    """Add the account registered as ``email`` to the actor's team with ``role``.

    Raises ``Forbidden`` unless the actor is an owner or admin (only owners may
    add owners), ``InvalidInput`` if no account has that address and
    ``Conflict`` if it is already a member.
    """
    _require_manager(actor_membership)
    team = actor_membership.team
    if role not in Role.values:
        raise InvalidInput("Choose a valid role.", field="role")
    if role == Role.OWNER and not actor_membership.is_owner:
        raise Forbidden("Only an owner can add another owner.", field="role")
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise InvalidInput(
            "No Gatehouse account uses this email. Ask them to sign up first.",
            code="unknown_user",
            field="email",
        )
    with transaction.atomic():
        if Membership.objects.filter(team=team, user=user).exists():
            raise Conflict("They are already a member of this team.", field="email")
        membership = Membership.objects.create(team=team, user=user, role=role)
        record(
            action="team.member_add",
            actor=actor_membership.user,
            team=team,
            target=user,
            request=request,
            data={"role": role},
        )
    return membership


def membership_change_role(
    *,
    actor_membership: Membership,
    membership: Membership,
    role: str,
    request: HttpRequest | None = None,
) -> Membership:
    """Give ``membership`` a new role within the actor's team.

    Only owners may grant or take away the owner role, and a team never loses
    its last owner (``Conflict``, code ``last_owner``).
    """
    _require_manager(actor_membership)
    if role not in Role.values:
        raise InvalidInput("Choose a valid role.", field="role")
    involves_owner = Role.OWNER in (role, membership.role)
    if involves_owner and not actor_membership.is_owner:
        raise Forbidden("Only an owner can grant or remove the owner role.")
    if membership.role == role:
        return membership
    with transaction.atomic():
        # Lock the team's owner rows so two demotions cannot both pass the
        # "another owner remains" check.
        list(
            Membership.objects.select_for_update().filter(
                team=membership.team, role=Role.OWNER
            )
        )
        if membership.role == Role.OWNER and _owner_count(membership.team) <= 1:
            raise Conflict(
                "A team must keep at least one owner. Make someone else an owner "
                "first.",
                code="last_owner",
            )
        old = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        record(
            action="team.member_role_change",
            actor=actor_membership.user,
            team=membership.team,
            target=membership.user,
            request=request,
            data={"from": old, "to": role},
        )
    return membership


def membership_remove(
    *,
    actor_membership: Membership,
    membership: Membership,
    request: HttpRequest | None = None,
) -> None:
    """Remove a member from the team (or leave it, when it is the actor's own).

    Admins cannot remove owners; a team never loses its last owner.
    """
    leaving = membership.pk == actor_membership.pk
    if not leaving:
        _require_manager(actor_membership)
        if membership.role == Role.OWNER and not actor_membership.is_owner:
            raise Forbidden("Only an owner can remove another owner.")
    with transaction.atomic():
        list(
            Membership.objects.select_for_update().filter(
                team=membership.team, role=Role.OWNER
            )
        )
        if membership.role == Role.OWNER and _owner_count(membership.team) <= 1:
            raise Conflict(
                "A team must keep at least one owner. Make someone else an owner "
                "first.",
                code="last_owner",
            )
        membership.delete()
        record(
            action="team.leave" if leaving else "team.member_remove",
            actor=actor_membership.user,
            team=membership.team,
            target=membership.user,
            request=request,
        )
