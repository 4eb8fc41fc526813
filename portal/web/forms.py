from __future__ import annotations

import re

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from portal.accounts.models import Role, User
from portal.errors import GatehouseError


def add_domain_error(form: forms.Form, error: GatehouseError) -> None:
    """Show a service's error on the form field it names (else on the form)."""
    form.add_error(error.field if error.field in form.fields else None, error.message)


class SignupForm(forms.Form):
    email = forms.EmailField(
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    name = forms.CharField(
        max_length=150,
        required=False,
        label="Name (optional)",
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"].strip())
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this email already exists.", code="email_taken"
            )
        return email

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords differ.")
        elif p1:
            candidate = User(
                email=cleaned.get("email", ""), name=cleaned.get("name", "")
            )
            try:
                password_validation.validate_password(p1, candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class LoginForm(AuthenticationForm):
    """Email and password; refuses accounts whose address is not confirmed."""

    username = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an active account.",
        "unverified": (
            "Please confirm your email address first: follow the link we sent "
            "you, or ask for a new one below."
        ),
    }

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not user.is_email_verified:
            raise forms.ValidationError(
                self.error_messages["unverified"], code="unverified"
            )


class ResendVerificationForm(forms.Form):
    email = forms.EmailField(max_length=254)


class TeamCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    slug = forms.SlugField(
        max_length=60,
        required=False,
        label="Address (optional)",
        help_text="Lower-case letters, digits and hyphens; made from the name "
        "if left empty.",
    )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if slug and not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", slug):
            raise forms.ValidationError(
                "Use lower-case letters, digits and single hyphens only."
            )
        return slug


class MemberAddForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


SLUG_RE = r"[a-z0-9]+(?:-[a-z0-9]+)*"


class AppCreateForm(forms.Form):
    name = forms.CharField(max_length=255)
    slug = forms.CharField(
        max_length=60,
        required=False,
        label="Address (optional)",
        help_text="Lower-case letters, digits and hyphens; made from the name "
        "if left empty.",
    )
    description = forms.CharField(
        max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if slug and not re.fullmatch(SLUG_RE, slug):
            raise forms.ValidationError(
                "Use lower-case letters, digits and single hyphens only."
            )
        return slug


def _lines(value: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", value or "") if part]


class KeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="What the key may do; only scopes your subscriptions grant.",
    )
    expires_in_days = forms.IntegerField(
        min_value=1,
        max_value=3650,
        required=False,
        label="Expires in (days, optional)",
    )
    allowed_ips = forms.CharField(
        required=False,
        max_length=4000,
        label="Allowed IP ranges (optional)",
        help_text="One IPv4 or IPv6 address or CIDR range per line; empty allows "
        "any address.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, scope_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = scope_choices

    def clean_allowed_ips(self) -> list[str]:
        return _lines(self.cleaned_data["allowed_ips"])


class KeyRenameForm(forms.Form):
    name = forms.CharField(max_length=100)


class KeyScopesForm(forms.Form):
    scopes = forms.MultipleChoiceField(
        choices=(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, scope_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = scope_choices


class KeyExpiryForm(forms.Form):
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires at (UTC, empty for never)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )


class KeyIpsForm(forms.Form):
    allowed_ips = forms.CharField(
        required=False,
        max_length=4000,
        label="Allowed IP ranges",
        help_text="One address or CIDR range per line; empty allows any address.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_allowed_ips(self) -> list[str]:
        return _lines(self.cleaned_data["allowed_ips"])


class KeyRevokeForm(forms.Form):
    reason = forms.CharField(max_length=200, required=False)


class KeyRotateForm(forms.Form):
    GRACE_CHOICES = [
        ("0", "None: the old key stops now"),
        ("3600", "1 hour"),
        ("86400", "1 day"),
        ("259200", "3 days"),
        ("604800", "7 days"),
    ]
    grace = forms.TypedChoiceField(
        choices=GRACE_CHOICES,
        coerce=int,
        initial="86400",
        label="Keep the old key working for",
    )


class OAuthClientForm(forms.Form):
    grant = forms.ChoiceField(
        label="Grant type",
        choices=[
            ("authorization-code", "Authorization code + PKCE (acts for users)"),
            ("client-credentials", "Client credentials (server to server)"),
            ("device", "Device authorization (command-line tools, TVs)"),
        ],
    )
    client_type = forms.ChoiceField(
        label="Client type",
        choices=[
            ("confidential", "Confidential: a server that keeps a secret"),
            ("public", "Public: a native, mobile or browser app (no secret)"),
        ],
    )
    redirect_uris = forms.CharField(
        required=False,
        max_length=8000,
        label="Redirect URIs",
        help_text="One per line; https, or http on 127.0.0.1, [::1] or localhost "
        "for native apps. Matched exactly.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_redirect_uris(self) -> list[str]:
        return _lines(self.cleaned_data["redirect_uris"])


class RedirectUrisForm(forms.Form):
    redirect_uris = OAuthClientForm.base_fields["redirect_uris"]

    def clean_redirect_uris(self) -> list[str]:
        return _lines(self.cleaned_data["redirect_uris"])


# --- two-factor authentication ------------------------------------------------


def _code_field(**kwargs) -> forms.CharField:
    attrs = {
        "autocomplete": "one-time-code",
        "autocapitalize": "off",
        "spellcheck": "false",
        **kwargs.pop("attrs", {}),
    }
    return forms.CharField(max_length=32, widget=forms.TextInput(attrs=attrs), **kwargs)


class TotpConfirmForm(forms.Form):
    code = _code_field(
        label="Code from the app",
        help_text="The 6-digit code your authenticator app shows now.",
        attrs={"inputmode": "numeric", "autofocus": True},
    )
    password = forms.CharField(
        label="Your password",
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class TwoFactorVerifyForm(forms.Form):
    code = _code_field(
        label="Code",
        help_text="The 6-digit code from your authenticator app, or one of your "
        "recovery codes.",
        attrs={"autofocus": True},
    )


class RecoveryCodesForm(forms.Form):
    password = forms.CharField(
        required=False,
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    code = _code_field(
        required=False,
        label="or a code from your authenticator app",
    )

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("password") and not cleaned.get("code"):
            raise forms.ValidationError(
                "Enter your password or a code from your authenticator app.",
                code="required",
            )
        return cleaned


class TwoFactorDisableForm(forms.Form):
    password = forms.CharField(
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    code = _code_field(
        label="Code",
        help_text="The 6-digit code from your authenticator app, or a recovery code.",
    )
