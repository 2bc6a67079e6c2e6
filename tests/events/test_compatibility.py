"""The schema policy's checker: each kind of change lands on the rule that governs it."""

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from feedbackloop.events.codec import PAYLOAD_TYPES
from feedbackloop.events.compatibility import Change, Level, compare, explain, worst
from feedbackloop.events.envelope import envelope_type


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    # The versions below are classes of their own: their names and docstrings are not news.
    schema = model.model_json_schema()
    schema.pop("title")
    schema.pop("description", None)
    return schema


def _found(old: type[BaseModel], new: type[BaseModel]) -> list[tuple[Level, str, str]]:
    return [(c.level, c.path, c.what) for c in compare(_schema(old), _schema(new))]


class Colour(StrEnum):
    """A colour."""

    RED = "red"
    BLUE = "blue"


class Inner(BaseModel):
    """A nested model."""

    x: str = Field(description="X.")
    y: int | None = Field(default=None, description="Y.")


class Before(BaseModel):
    """The published model."""

    name: str = Field(max_length=10, description="A name.")
    count: int = Field(description="A count.")
    note: str | None = Field(default=None, description="A note.")
    colour: Colour = Field(description="A colour.")
    inner: Inner = Field(description="Inside.")


def test_removing_a_field_bumps_the_version() -> None:
    class After(BaseModel):
        name: str = Field(max_length=10, description="A name.")
        note: str | None = Field(default=None, description="A note.")
        colour: Colour = Field(description="A colour.")
        inner: Inner = Field(description="Inside.")

    assert _found(Before, After) == [(Level.BREAKING, "count", "field removed")]


def test_changing_a_fields_type_bumps_the_version() -> None:
    class After(Before):
        count: str = Field(description="A count.")  # type: ignore[assignment]

    changes = compare(_schema(Before), _schema(After))
    assert worst(changes) is Level.BREAKING
    breaking = [str(c) for c in changes if c.level is Level.BREAKING]
    assert breaking == ["count: type 'integer' -> 'string'"]


def test_a_new_required_field_bumps_the_version() -> None:
    class After(Before):
        owner: str = Field(description="Who.")

    assert _found(Before, After) == [(Level.BREAKING, "owner", "new required field")]


def test_making_an_optional_field_required_bumps_the_version() -> None:
    class After(Before):
        note: str = Field(description="A note.")  # type: ignore[assignment]

    found = _found(Before, After)
    assert (Level.BREAKING, "note", "field made required") in found
    assert (Level.BREAKING, "note", "null no longer allowed") in found


def test_a_new_optional_field_is_a_minor_change() -> None:
    class After(Before):
        owner: str | None = Field(default=None, description="Who.")

    changes = compare(_schema(Before), _schema(After))
    assert [(c.level, c.path) for c in changes] == [(Level.ADDITIVE, "owner")]
    assert "allowed in place" in explain(changes)


def test_changes_inside_a_nested_model_are_found_where_they_are() -> None:
    class Inner2(BaseModel):
        """A nested model."""

        y: str | None = Field(default=None, description="Y.")

    class After(Before):
        inner: Inner2 = Field(description="Inside.")  # type: ignore[assignment]

    found = _found(Before, After)
    assert (Level.BREAKING, "inner.x", "field removed") in found
    assert (Level.BREAKING, "inner.y", "type 'integer' -> 'string'") in found


def test_limits_tightened_break_and_loosened_widen() -> None:
    class Tighter(Before):
        name: str = Field(max_length=5, description="A name.")

    class Looser(Before):
        name: str = Field(max_length=50, description="A name.")

    assert _found(Before, Tighter) == [(Level.BREAKING, "name", "maxLength 10 -> 5")]
    assert _found(Before, Looser) == [(Level.WIDENING, "name", "maxLength 10 -> 50")]


def test_enum_values_added_widen_and_removed_break() -> None:
    class More(StrEnum):
        """A colour."""

        RED = "red"
        BLUE = "blue"
        GREEN = "green"

    class Fewer(StrEnum):
        """A colour."""

        RED = "red"

    class Wider(Before):
        colour: More = Field(description="A colour.")  # type: ignore[assignment]

    class Narrower(Before):
        colour: Fewer = Field(description="A colour.")  # type: ignore[assignment]

    # (The enums' class names differ too: a title, documentation only.)
    wider = [found for found in _found(Before, Wider) if found[0] is not Level.DOCS]
    narrower = [found for found in _found(Before, Narrower) if found[0] is not Level.DOCS]
    assert wider == [(Level.WIDENING, "colour", "enum values added: ['green']")]
    assert narrower == [(Level.BREAKING, "colour", "enum values removed: ['blue']")]


def test_words_alone_are_documentation_and_a_missing_description_fails() -> None:
    class Reworded(Before):
        count: int = Field(description="How many.")

    class Undescribed(Before):
        owner: str | None = None

    assert _found(Before, Reworded) == [(Level.DOCS, "count", "description changed")]
    assert worst(compare(_schema(Before), _schema(Undescribed))) is Level.UNDESCRIBED


def test_the_phone_sealed_field_added_in_place_was_a_minor_change() -> None:
    # What v1 went through: Contact gained `phone_sealed`; without it is the older schema.
    current = envelope_type(PAYLOAD_TYPES["feedbackloop.feedback.received.v1"]).model_json_schema()
    older = {**current, "$defs": {**current["$defs"]}}
    contact = dict(older["$defs"]["Contact"])
    contact["properties"] = {k: v for k, v in contact["properties"].items() if k != "phone_sealed"}
    older["$defs"]["Contact"] = contact
    assert compare(older, current) == [
        Change(Level.ADDITIVE, "data.contact.phone_sealed", "optional field added")
    ]
    assert worst(compare(current, older)) is Level.BREAKING
