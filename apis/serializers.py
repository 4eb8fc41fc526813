"""Serializer helpers shared by every served and management API."""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework import serializers


def json_type_error(field: serializers.Field, value: Any) -> str | list | dict | None:
    """Why ``value``, as parsed from a JSON body, is not of the JSON type
    ``field`` documents; None when it is (or for a null, which the field's
    ``allow_null`` decides).

    DRF's fields coerce: ``5`` passes as the string "5", ``"5"`` as the
    number 5, ``"true"`` as true. The schema promises a type, so a body must
    keep to it.
    """
    if value is None:
        return None
    if isinstance(field, serializers.ListField):
        if not isinstance(value, list):
            return None  # DRF's own "Expected a list of items" answers it
        errors = {
            index: [error]
            for index, item in enumerate(value)
            if (error := json_type_error(field.child, item)) is not None
        }
        return errors or None
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Must be true or false."
    if isinstance(field, serializers.IntegerField):
        # 5.0 too is refused: OpenAPI 3.0's JSON Schema tells it from 5.
        whole = isinstance(value, int) and not isinstance(value, bool)
        return None if whole else "Must be an integer."
    if isinstance(field, serializers.ChoiceField) and not all(
        isinstance(choice, str) for choice in field.choices
    ):
        return None
    if isinstance(
        field,
        (
            serializers.CharField,
            serializers.ChoiceField,
            serializers.DateTimeField,
            serializers.DateField,
        ),
    ):
        return None if isinstance(value, str) else "Must be a string."
    return None


def raw_length_error(field: serializers.Field, value: Any) -> str | dict | None:
    """A text longer than the field's ``max_length`` before DRF trims its
    surrounding whitespace: the schema's ``maxLength`` counts what is sent."""
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        errors = {
            index: [error]
            for index, item in enumerate(value)
            if (error := raw_length_error(field.child, item)) is not None
        }
        return errors or None
    limit = getattr(field, "max_length", None)
    if (
        isinstance(field, serializers.CharField)
        and limit is not None
        and isinstance(value, str)
        and len(value) > limit
    ):
        return f"Ensure this field has no more than {limit} characters."
    return None


class StrictInputSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not know, values of
    another JSON type than the field's (``json_type_error``), and text longer
    than its field allows even before trimming (``raw_length_error``).

    A typo in a field name must be an error, not a silently ignored value.
    """

    # Query strings are text whatever the parameter: StrictQuerySerializer.
    json_types: ClassVar[bool] = True
    # Read whole by a PATCH view too (the one thing it replaces): the schema
    # then keeps its required fields required (apis/schema.py).
    whole_on_patch: ClassVar[bool] = False

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown[:20]},
                    code="unknown_field",
                )
            wrong = {
                name: error if isinstance(error, dict) else [error]
                for name, value in data.items()
                if (error := self._input_error(self.fields[name], value)) is not None
            }
            if wrong:
                raise serializers.ValidationError(wrong, code="invalid")
        return super().to_internal_value(data)

    def _input_error(self, field: serializers.Field, value: Any):
        if self.json_types and (error := json_type_error(field, value)) is not None:
            return error
        return raw_length_error(field, value)


class StrictQuerySerializer(StrictInputSerializer):
    """A query string's parameters: unknown ones are refused; every value is
    text, converted by its field."""

    json_types = False
