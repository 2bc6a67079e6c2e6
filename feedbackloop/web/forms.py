"""Reading HTML form input: clean text, safe numbers, Chinese messages for invalid fields."""

import re
import unicodedata

from pydantic import ValidationError

_NUMBER = re.compile(r"[0-9]{1,20}")


def clean(text: str, limit: int = 5000) -> str:
    """Form text without control characters (NUL would fail on PostgreSQL), cut to `limit`."""
    return "".join(c for c in text[: limit * 2] if c in "\n\t" or unicodedata.category(c) != "Cc")[
        :limit
    ]


def ticket_number(text: str) -> str:
    """A ticket number (ASCII digits) safe to put back into a page or URL, else ''."""
    return text if _NUMBER.fullmatch(text) else ""


def field_errors(exc: ValidationError, labels: dict[str, str]) -> dict[str, str]:
    """One Chinese message per form field from a pydantic validation error."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "_"
        label = labels.get(name, name)
        context = error.get("ctx") or {}
        kind = error["type"]
        if kind == "string_too_short":
            least = context.get("min_length", 1)
            message = f"请填写{label}" if least <= 1 else f"请填写{label}，至少{least}个字"
        elif kind == "string_too_long":
            message = f"{label}不能超过{context.get('max_length')}个字"
        elif kind == "greater_than_equal":
            message = f"{label}不能小于{context.get('ge')}"
        elif kind == "less_than_equal":
            message = f"{label}不能大于{context.get('le')}"
        elif kind in ("int_parsing", "int_type", "int_from_float", "missing"):
            message = f"请填写{label}"
        elif kind == "value_error" and context.get("error"):
            message = str(context["error"])  # a validator's own words, written for people
        else:
            message = f"{label}填写有误"
        errors.setdefault(name, message)
    return errors
