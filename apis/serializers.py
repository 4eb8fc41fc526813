"""Serializer helpers shared by every served and management API."""

from __future__ import annotations

from rest_framework import serializers


class StrictInputSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not know.

    A typo in a field name must be an error, not a silently ignored value.
    """

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown[:20]},
                    code="unknown_field",
                )
        return super().to_internal_value(data)
