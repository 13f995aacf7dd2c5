"""The /validate model in Pydantic, as FastAPI apps write it: used by FastAPI and by Starlette
(FastAPI's base, without FastAPI's layer), so that the two differ only in what FastAPI adds."""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StrictInt, field_validator

import contract


def text_value(value: str) -> str:
    problem = contract.text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# A JSON string as the contract takes it: no NUL, no lone surrogate (Pydantic allows NUL).
Text = Annotated[str, AfterValidator(text_value)]
Name = Annotated[Text, Field(min_length=1, max_length=contract.NAME_MAX)]


class Address(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)
    street: Name
    city: Name
    postcode: Name


class Person(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)
    name: Name
    email: EmailStr
    age: StrictInt = Field(ge=contract.AGE_MIN, le=contract.AGE_MAX)
    address: Address
    tags: list[Text] = Field(default_factory=list, max_length=contract.TAGS_MAX)

    @field_validator("email")
    @classmethod
    def lower_email(cls, value: str) -> str:
        return value.lower()

    @field_validator("tags")
    @classmethod
    def lower_tags(cls, value: list[str]) -> list[str]:
        return [tag.strip().lower() for tag in value]
