"""The /validate schema as Django REST framework serializers (DRF is Django's usual JSON API layer)."""

from rest_framework import serializers

import contract


class StrictCharField(serializers.CharField):
    """A JSON string only: DRF would turn 1 into "1", the contract (like Pydantic) refuses it."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: DRF would accept "36", 36.0 and true."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def text_field():
    # DRF trims whitespace by default (trim_whitespace=True).
    return StrictCharField(min_length=1, max_length=contract.NAME_MAX)


class AddressSerializer(serializers.Serializer):
    street = text_field()
    city = text_field()
    postcode = text_field()


class PersonSerializer(serializers.Serializer):
    name = text_field()
    email = serializers.EmailField()
    age = StrictIntegerField(min_value=contract.AGE_MIN, max_value=contract.AGE_MAX)
    address = AddressSerializer()
    tags = serializers.ListField(child=StrictCharField(), max_length=contract.TAGS_MAX, default=list)

    def validate_email(self, value):
        return value.lower()

    def validate_tags(self, value):
        return [tag.strip().lower() for tag in value]
