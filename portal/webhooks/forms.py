from __future__ import annotations

from django import forms

from portal.webhooks.catalogue import EVENT_TYPES, SUBSCRIBABLE

EVENT_CHOICES = [(name, f"{name} — {EVENT_TYPES[name]}") for name in SUBSCRIBABLE]


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=500,
        help_text="https only; it must not resolve to a private or internal address.",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks"}),
    )
    description = forms.CharField(max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        choices=EVENT_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event type."},
    )


class EndpointEditForm(EndpointForm):
    is_active = forms.BooleanField(
        label="Enabled", required=False, help_text="Disabled endpoints get no events."
    )


class EmailPreferenceForm(forms.Form):
    event_types = forms.MultipleChoiceField(
        label="Email me about",
        choices=EVENT_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
