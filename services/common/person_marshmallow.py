"""The /validate schema in marshmallow, as Flask apps write it: used by Flask and by Quart (Flask's
API, async), so that the two differ only in what Quart changes."""

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate

import contract


class Text(fields.String):
    """A JSON string as the contract takes it: no NUL, no lone surrogate (marshmallow allows both)."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        problem = contract.text_problem(value)
        if problem:
            raise ValidationError(problem)
        return value


class StrippedString(Text):
    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


def text_field():
    return StrippedString(required=True, validate=validate.Length(min=1, max=contract.NAME_MAX))


class AddressSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    street = text_field()
    city = text_field()
    postcode = text_field()


class PersonSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = text_field()
    email = fields.Email(required=True)
    age = fields.Integer(required=True, strict=True, validate=validate.Range(contract.AGE_MIN, contract.AGE_MAX))
    address = fields.Nested(AddressSchema, required=True)
    tags = fields.List(Text(), load_default=list, validate=validate.Length(max=contract.TAGS_MAX))

    @post_load
    def normalise(self, data, **kwargs):
        data["email"] = data["email"].strip().lower()
        data["tags"] = [tag.strip().lower() for tag in data["tags"]]
        return data
