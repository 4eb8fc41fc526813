"""Use cases for accounts, teams and memberships."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from portal.accounts.mail import email_schedule
from portal.accounts.models import Membership, Role, Team, User
from portal.accounts.tokens import email_verification_token
from portal.audit.models import AuditEvent
from portal.audit.services import record
from portal.errors import Conflict, Forbidden, InvalidInput
from portal.keys.models import ApiKey
from portal.keys.services import api_key_revoke
from portal.oauth.services import oauth_tokens_revoke_all
from portal.web.client import client_ip
from portal.webhooks.services import emit

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


def _check_signups_from_ip(request: HttpRequest | None) -> None:
    """Refuse a sign-up beyond ``ACCOUNT_SIGNUPS_PER_IP_PER_DAY`` accounts
    created from the client's IP in the last 24 hours (per the audit trail).

    Checked before the address is looked at, so a refusal says nothing about
    whether it is registered. Not serialised: two racing sign-ups from one IP
    may both pass the last free place.
    """
    ip = client_ip(request) if request is not None else None
    if ip is None:
        return
    cap = settings.ACCOUNT_SIGNUPS_PER_IP_PER_DAY
    since = timezone.now() - timedelta(days=1)
    created = AuditEvent.objects.filter(
        action="user.signup", ip=ip, created_at__gte=since
    ).count()
    if created >= cap:
        raise Conflict(
            "Too many accounts were created from your network today; try "
            "again tomorrow.",
            code="limit_reached",
        )


def user_signup(
    *, email: str, password: str, name: str = "", request: HttpRequest | None = None
) -> User:
    """Create a developer account with its personal team; mail a verification link.

    Raises ``Conflict`` (code ``email_taken``) if the address is already
    registered in any letter case, and ``Conflict`` (``limit_reached``) when
    ``ACCOUNT_SIGNUPS_PER_IP_PER_DAY`` accounts came from the client's IP.
    """
    _check_signups_from_ip(request)
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

    Raises ``InvalidInput`` for a reserved slug, ``Conflict`` (code
    ``slug_taken``) for one in use, and ``Conflict`` (``limit_reached``) when
    ``actor`` already owns ``TEAMS_MAX_OWNED_PER_USER`` teams.
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
            # The user row is locked so concurrent creations count each other.
            User.objects.select_for_update().filter(pk=actor.pk).first()
            cap = settings.TEAMS_MAX_OWNED_PER_USER
            if Membership.objects.filter(user=actor, role=Role.OWNER).count() >= cap:
                raise Conflict(
                    f"You can own at most {cap} teams.", code="limit_reached"
                )
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


# --- suspensions (staff) -------------------------------------------------------


@dataclass(frozen=True)
class Suspension:
    """What a suspension took away at once."""

    keys_revoked: int = 0
    tokens_revoked: int = 0
    sessions_ended: int = 0


SUSPENSION_REASON_MAX_LENGTH = 160


def _suspension_reason(reason: str, *, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise InvalidInput("Give a reason for the suspension.", field="reason")
    if len(reason) > SUSPENSION_REASON_MAX_LENGTH:
        raise InvalidInput(
            f"Reasons are at most {SUSPENSION_REASON_MAX_LENGTH} characters.",
            field="reason",
        )
    return reason


def _require_staff(actor: User) -> None:
    if not (actor.is_active and actor.is_staff):
        raise Forbidden("Only staff can suspend or reactivate.")


def _require_may_act_on(actor: User, user: User) -> None:
    if user.pk == actor.pk:
        raise Forbidden("You cannot suspend or reactivate yourself.", code="self")
    if user.is_superuser and not actor.is_superuser:
        raise Forbidden(
            "Only a superuser can suspend or reactivate a superuser.",
            code="superuser_protected",
        )


def _keys_revoke(keys, *, reason: str, actor: User, request) -> int:
    """Revoke every key of ``keys`` not yet revoked (each writes its event)."""
    revoked = 0
    for key in keys.filter(revoked_at__isnull=True).order_by("pk"):
        api_key_revoke(key=key, reason=reason, actor=actor, request=request)
        revoked += 1
    return revoked


def _sessions_end(user: User) -> int:
    """Delete every stored session logged in as ``user``; returns how many.

    Only session engines backed by a model can be searched. With any other
    engine the user is still logged out on their next request: the
    authentication backend refuses an inactive user's session.
    """
    engine = import_module(settings.SESSION_ENGINE)
    store_class = engine.SessionStore
    if not hasattr(store_class, "get_model_class"):
        return 0
    store = store_class()
    model = store_class.get_model_class()
    theirs = [
        session.session_key
        for session in model.objects.filter(expire_date__gt=timezone.now())
        .only("session_key", "session_data")
        .iterator(chunk_size=2000)
        if str(store.decode(session.session_data).get(SESSION_KEY)) == str(user.pk)
    ]
    for session_key in theirs:
        store_class(session_key=session_key).delete()
    return len(theirs)


def team_suspend(
    *, team: Team, actor: User, reason: str, request: HttpRequest | None = None
) -> Suspension:
    """Suspend ``team``: it goes inactive and every credential of its apps is
    revoked at once (API keys, with the reason; OAuth tokens and unused
    authorization codes). The next call with any of them is 401.

    Raises ``InvalidInput`` without a reason, ``Forbidden`` unless ``actor``
    is active staff and ``Conflict`` (code ``already_suspended``) if the team
    already is.
    """
    _require_staff(actor)
    reason = _suspension_reason(reason, required=True)
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        if not team.is_active:
            raise Conflict("This team is already suspended.", code="already_suspended")
        team.is_active = False
        team.save(update_fields=["is_active"])
        why = f"Team suspended by staff: {reason}"
        keys = _keys_revoke(
            ApiKey.objects.filter(app__team=team),
            reason=why,
            actor=actor,
            request=request,
        )
        tokens = sum(
            oauth_tokens_revoke_all(app=app, actor=actor, reason=why, request=request)
            for app in team.apps.select_related("team").order_by("pk")
        )
        record(
            action="team.suspended",
            actor=actor,
            team=team,
            target=team,
            request=request,
            data={"reason": reason, "keys_revoked": keys, "tokens_revoked": tokens},
        )
        emit(
            team,
            "team.suspended",
            {
                "team": {"id": team.pk, "slug": team.slug},
                "reason": reason,
                "keys_revoked": keys,
                "tokens_revoked": tokens,
            },
        )
    return Suspension(keys_revoked=keys, tokens_revoked=tokens)


def team_reactivate(
    *, team: Team, actor: User, reason: str = "", request: HttpRequest | None = None
) -> Team:
    """Lift ``team``'s suspension: its members can create new credentials.

    Credentials revoked by the suspension stay revoked. Raises ``Forbidden``
    unless ``actor`` is active staff, ``Conflict`` (code ``not_suspended``)
    if the team is active.
    """
    _require_staff(actor)
    reason = _suspension_reason(reason, required=False)
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        if team.is_active:
            raise Conflict("This team is not suspended.", code="not_suspended")
        team.is_active = True
        team.save(update_fields=["is_active"])
        record(
            action="team.reactivated",
            actor=actor,
            team=team,
            target=team,
            request=request,
            data={"reason": reason},
        )
    return team


def user_suspend(
    *, user: User, actor: User, reason: str, request: HttpRequest | None = None
) -> Suspension:
    """Suspend ``user``: they can no longer log in, every session of theirs
    ends, the API keys they created are revoked (with the reason) and so are
    the OAuth tokens issued to them.

    Raises ``InvalidInput`` without a reason; ``Forbidden`` unless ``actor``
    is active staff, for the actor themselves (code ``self``) and for a
    superuser when the actor is not one (code ``superuser_protected``);
    ``Conflict`` (code ``already_suspended``) if the user already is.
    """
    _require_staff(actor)
    reason = _suspension_reason(reason, required=True)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        _require_may_act_on(actor, user)
        if not user.is_active:
            raise Conflict("This user is already suspended.", code="already_suspended")
        user.is_active = False
        user.save(update_fields=["is_active"])
        why = f"Key owner suspended by staff: {reason}"
        keys = _keys_revoke(
            ApiKey.objects.filter(created_by=user),
            reason=why,
            actor=actor,
            request=request,
        )
        tokens = oauth_tokens_revoke_all(
            user=user, actor=actor, reason=why, request=request
        )
        sessions = _sessions_end(user)
        record(
            action="user.suspended",
            actor=actor,
            target=user,
            request=request,
            data={
                "reason": reason,
                "keys_revoked": keys,
                "tokens_revoked": tokens,
                "sessions_ended": sessions,
            },
        )
    return Suspension(keys_revoked=keys, tokens_revoked=tokens, sessions_ended=sessions)


def user_reactivate(
    *, user: User, actor: User, reason: str = "", request: HttpRequest | None = None
) -> User:
    """Lift ``user``'s suspension: they can log in again.

    Credentials revoked by the suspension stay revoked. Raises as
    ``user_suspend`` does, with ``Conflict`` (code ``not_suspended``) for an
    active user.
    """
    _require_staff(actor)
    reason = _suspension_reason(reason, required=False)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        _require_may_act_on(actor, user)
        if user.is_active:
            raise Conflict("This user is not suspended.", code="not_suspended")
        user.is_active = True
        user.save(update_fields=["is_active"])
        record(
            action="user.reactivated",
            actor=actor,
            target=user,
            request=request,
            data={"reason": reason},
        )
    return user


# --- staff roles --------------------------------------------------------------


def staff_roles(user: User) -> dict:
    """What ``user`` may do on the staff side: flags, groups and permissions."""
    return {
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "user_permissions": sorted(
            f"{app_label}.{codename}"
            for app_label, codename in user.user_permissions.values_list(
                "content_type__app_label", "codename"
            )
        ),
    }


def user_staff_roles_record(
    *, user: User, before: dict, actor: User, request: HttpRequest | None = None
) -> bool:
    """Record ``user.staff_role_changed`` if ``user``'s staff roles differ from
    ``before`` (a ``staff_roles`` snapshot taken before an edit).

    Call it in the edit's transaction. Returns whether anything changed.
    """
    after = staff_roles(user)
    changed = {
        field: {"from": before[field], "to": after[field]}
        for field in after
        if before.get(field) != after[field]
    }
    if changed:
        record(
            action="user.staff_role_changed",
            actor=actor,
            target=user,
            request=request,
            data={"changed": changed},
        )
    return bool(changed)
