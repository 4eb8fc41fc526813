"""The confirmation step of the admin actions that take something away
(revoking credentials, suspending accounts).

The page lists what the action will touch and what follows from it, asks for
a reason, and only then calls the service once per object, each in its own
transaction: one refusal (say, a superuser picked by a staff member who may
not suspend one) is reported without undoing the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from portal.errors import GatehouseError

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin
    from django.db.models import Model, QuerySet
    from django.http import HttpRequest, HttpResponse

TEMPLATE = "admin/gatehouse/confirm_action.html"
# The page names this many of the selected objects; the rest are counted.
LISTED = 50


@dataclass(frozen=True)
class Confirmation:
    """The wording of one action's confirmation page."""

    title: str
    button: str
    done: str  # "revoked", as in "3 API keys revoked."
    consequences: list[str] = field(default_factory=list)
    reason_required: bool = False
    reason_max_length: int = 200
    reason_help: str = "Kept in the audit trail."


class ReasonForm(forms.Form):
    def __init__(self, *args, confirmation: Confirmation, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"] = forms.CharField(
            label="Reason" if confirmation.reason_required else "Reason (optional)",
            required=confirmation.reason_required,
            max_length=confirmation.reason_max_length,
            help_text=confirmation.reason_help,
            widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        )


Apply = Callable[["Model", str], str | None]


def _apply(
    modeladmin: ModelAdmin,
    request: HttpRequest,
    objects,
    confirmation: Confirmation,
    apply: Apply,
    reason: str,
) -> int:
    done = 0
    for obj in objects:
        try:
            detail = apply(obj, reason)
        except GatehouseError as error:
            modeladmin.message_user(request, f"{obj}: {error.message}", messages.ERROR)
            continue
        done += 1
        if detail:
            modeladmin.message_user(request, f"{obj}: {detail}", messages.SUCCESS)
    if done:
        noun = modeladmin.opts.verbose_name if done == 1 else None
        noun = noun or modeladmin.opts.verbose_name_plural
        modeladmin.message_user(
            request, f"{done} {noun} {confirmation.done}.", messages.SUCCESS
        )
    return done


def _page(
    modeladmin: ModelAdmin,
    request: HttpRequest,
    objects: list,
    confirmation: Confirmation,
    form: ReasonForm,
    *,
    action: str = "",
    cancel_url: str,
) -> TemplateResponse:
    opts = modeladmin.opts
    return TemplateResponse(
        request,
        TEMPLATE,
        {
            **modeladmin.admin_site.each_context(request),
            "title": confirmation.title,
            "opts": opts,
            "confirmation": confirmation,
            "listed": objects[:LISTED],
            "unlisted": max(0, len(objects) - LISTED),
            "count": len(objects),
            "pks": [obj.pk for obj in objects],
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
            "form": form,
            "cancel_url": cancel_url,
        },
    )


def confirm_action(
    modeladmin: ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    confirmation: Confirmation,
    apply: Apply,
) -> HttpResponse | None:
    """An admin action's body: the confirmation page, then ``apply(obj, reason)``
    for each selected object once the page is submitted."""
    objects = list(queryset)
    if "apply" in request.POST:
        form = ReasonForm(request.POST, confirmation=confirmation)
        if form.is_valid():
            _apply(
                modeladmin,
                request,
                objects,
                confirmation,
                apply,
                form.cleaned_data["reason"],
            )
            return None  # back to the change list
    else:
        form = ReasonForm(confirmation=confirmation)
    return _page(
        modeladmin,
        request,
        objects,
        confirmation,
        form,
        action=request.POST.get("action", ""),
        cancel_url=request.get_full_path(),
    )


def confirm_object(
    modeladmin: ModelAdmin,
    request: HttpRequest,
    obj: Model,
    confirmation: Confirmation,
    apply: Apply,
) -> HttpResponse:
    """The same step for one object, from a button on its change page."""
    opts = modeladmin.opts
    change_url = reverse(
        f"{modeladmin.admin_site.name}:{opts.app_label}_{opts.model_name}_change",
        args=[obj.pk],
    )
    if request.method == "POST":
        form = ReasonForm(request.POST, confirmation=confirmation)
        if form.is_valid():
            _apply(
                modeladmin,
                request,
                [obj],
                confirmation,
                apply,
                form.cleaned_data["reason"],
            )
            return HttpResponseRedirect(change_url)
    else:
        form = ReasonForm(confirmation=confirmation)
    return _page(modeladmin, request, [obj], confirmation, form, cancel_url=change_url)
