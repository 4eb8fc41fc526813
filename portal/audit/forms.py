"""Query-string forms that turn what a reader asked for into ``AuditFilters``.

Bad input is a form error the page shows, never an exception: dates are
parsed by the form, their order is checked, and an action must be one the
list actually has.
"""

from __future__ import annotations

from django import forms

from portal.audit.selectors import AuditFilters

DATE_HELP = "A day as YYYY-MM-DD (UTC)."


def _date_field(label: str) -> forms.DateField:
    return forms.DateField(
        required=False,
        label=label,
        help_text=DATE_HELP,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": f"Not a date. {DATE_HELP}"},
    )


class DateRangeForm(forms.Form):
    since = _date_field("From")
    until = _date_field("To (included)")

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned


class TeamAuditForm(DateRangeForm):
    """The filters of a team's audit page, and its export format."""

    action = forms.ChoiceField(required=False, label="Action")
    actor = forms.CharField(
        required=False,
        label="Actor",
        max_length=254,
        help_text="Part of an email address, or “staff”.",
        error_messages={"max_length": "At most 254 characters."},
    )
    format = forms.ChoiceField(
        required=False,
        choices=[("html", "Web page"), ("csv", "CSV")],
        widget=forms.HiddenInput,
        error_messages={
            "invalid_choice": "“%(value)s” is not an export format: use csv."
        },
    )
    page = forms.IntegerField(
        required=False,
        min_value=1,
        widget=forms.HiddenInput,
        error_messages={
            "invalid": "Page numbers are whole numbers from 1.",
            "min_value": "Page numbers are whole numbers from 1.",
        },
    )

    field_order = ["action", "actor", "since", "until"]

    def __init__(self, *args, actions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any action")] + [
            (action, action) for action in actions
        ]
        self.fields["action"].error_messages["invalid_choice"] = (
            "“%(value)s” is not an action in this team's trail: choose one "
            "from the list."
        )

    def filters(self) -> AuditFilters:
        """The chosen filters; call after ``is_valid()`` returned True."""
        data = self.cleaned_data
        return AuditFilters(
            action=data["action"],
            actor=data["actor"].strip(),
            since=data["since"],
            until=data["until"],
        )

    @property
    def filtered(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return any(data.get(name) for name in ("action", "actor", "since", "until"))
