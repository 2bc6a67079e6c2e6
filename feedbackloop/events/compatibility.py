"""Which rule of the schema policy a change between two event schemas falls under.

The policy (docs/events.md, and the codec's docstring) sorts every difference between a
published schema and its successor into one of the levels below; the snapshot test of the
published schemas uses it to say whether a change may be made in place or needs a new
version. Schemas are pydantic's JSON Schema (`model_json_schema()`), `$ref`s resolved.
"""

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

Schema = dict[str, Any]


class Level(IntEnum):
    """How far a change reaches, from harmless to needing a new version."""

    DOCS = 1
    ADDITIVE = 2
    WIDENING = 3
    BREAKING = 4
    UNDESCRIBED = 5


#: What each level means for the change, as the snapshot test tells it.
RULES: dict[Level, str] = {
    Level.DOCS: "documentation only: allowed in place; update the snapshot",
    Level.ADDITIVE: "an optional field added: a minor change, allowed in place (old readers "
    "ignore it, new readers default it); update the snapshot",
    Level.WIDENING: "readers accept more than before (a new enum value, a looser limit, null "
    "allowed, a field made optional): allowed in place, but deploy every reader before any "
    "writer sends it; update the snapshot",
    Level.BREAKING: "a field removed, renamed, retyped or made required, or a limit tightened: "
    "bump the version (a new type name such as '.v2', published next to the old one and "
    "both decoded until no topic holds the old)",
    Level.UNDESCRIBED: "every field keeps its description: describe it",
}

#: Keys that carry no meaning on the wire.
_ANNOTATIONS = frozenset({"title", "description", "examples"})
#: Keys handled one by one below; any other key that changes is taken as breaking.
_HANDLED = _ANNOTATIONS | {
    "$defs",
    "$ref",
    "anyOf",
    "default",
    "enum",
    "items",
    "properties",
    "required",
    "additionalProperties",
}
#: Limits where a bigger value accepts more, and where a smaller one does.
_UPPER = ("maxLength", "maximum", "exclusiveMaximum", "maxItems")
_LOWER = ("minLength", "minimum", "exclusiveMinimum", "minItems")


@dataclass(frozen=True)
class Change:
    """One difference between the old and the new schema."""

    level: Level
    path: str
    what: str

    def __str__(self) -> str:
        return f"{self.path or '(root)'}: {self.what}"


def compare(old: Schema, new: Schema) -> list[Change]:
    """Every difference between an old and a new schema, each with its level."""
    walker = _Walker(old, new)
    walker.walk(old, new, "")
    return walker.changes


def worst(changes: list[Change]) -> Level | None:
    """The highest level among the changes (None when there are none)."""
    return max((change.level for change in changes), default=None)


def explain(changes: list[Change]) -> str:
    """The changes grouped by level, each group with the rule that applies."""
    lines = []
    for level in sorted({change.level for change in changes}, reverse=True):
        lines.append(f"{level.name}: {RULES[level]}")
        lines += [f"  - {change}" for change in changes if change.level is level]
    return "\n".join(lines)


class _Walker:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root, self.new_root = old_root, new_root
        self.changes: list[Change] = []
        self._seen: set[tuple[str, str, str]] = set()

    def note(self, level: Level, path: str, what: str) -> None:
        self.changes.append(Change(level, path, what))

    def walk(self, old: Schema, new: Schema, path: str) -> None:
        # A model used in several places is compared once per place, and a recursive one
        # stops where it refers to itself.
        key = (path, str(old.get("$ref")), str(new.get("$ref")))
        if key in self._seen:
            return
        self._seen.add(key)
        old, new = _resolve(old, self.old_root), _resolve(new, self.new_root)
        for name in ("description", "title"):
            if old.get(name) != new.get(name):
                self.note(Level.DOCS, path, f"{name} changed")
        if "default" in old and "default" in new and old["default"] != new["default"]:
            self.note(Level.BREAKING, path, f"default {old['default']!r} -> {new['default']!r}")
        old_branches, old_null = _branches(old, self.old_root)
        new_branches, new_null = _branches(new, self.new_root)
        if old_null and not new_null:
            self.note(Level.BREAKING, path, "null no longer allowed")
        elif new_null and not old_null:
            self.note(Level.WIDENING, path, "null now allowed")
        if len(old_branches) == 1 and len(new_branches) == 1:
            self._compare_one(old_branches[0], new_branches[0], path)
        else:
            self._compare_choices(old_branches, new_branches, path)

    def _compare_choices(self, old: list[Schema], new: list[Schema], path: str) -> None:
        old_set, new_set = {_shape(b) for b in old}, {_shape(b) for b in new}
        if old_set - new_set:
            self.note(Level.BREAKING, path, "a type it could have is gone")
        elif new_set - old_set:
            self.note(Level.WIDENING, path, "a type it may have is new")

    def _compare_one(self, old: Schema, new: Schema, path: str) -> None:
        for name in sorted((set(old) | set(new)) - _HANDLED - set(_UPPER) - set(_LOWER)):
            if old.get(name) != new.get(name):
                self.note(Level.BREAKING, path, f"{name} {old.get(name)!r} -> {new.get(name)!r}")
        self._compare_limits(old, new, path)
        if "enum" in old or "enum" in new:
            gone = [v for v in old.get("enum", []) if v not in new.get("enum", [])]
            added = [v for v in new.get("enum", []) if v not in old.get("enum", [])]
            if gone or "enum" not in new:
                self.note(Level.BREAKING, path, f"enum values removed: {gone}")
            if added and "enum" in old:
                self.note(Level.WIDENING, path, f"enum values added: {added}")
        if "items" in old and "items" in new:
            self.walk(old["items"], new["items"], f"{path}[]")
        if "properties" in old or "properties" in new:
            self._compare_object(old, new, path)

    def _compare_limits(self, old: Schema, new: Schema, path: str) -> None:
        for name, looser_when_bigger in [(n, True) for n in _UPPER] + [(n, False) for n in _LOWER]:
            before, after = old.get(name), new.get(name)
            if before == after:
                continue
            if after is None or (before is not None and (after > before) == looser_when_bigger):
                self.note(Level.WIDENING, path, f"{name} {before} -> {after}")
            else:
                self.note(Level.BREAKING, path, f"{name} {before} -> {after}")

    def _compare_object(self, old: Schema, new: Schema, path: str) -> None:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        prefix = f"{path}." if path else ""
        for name in old_props:
            if name not in new_props:
                self.note(Level.BREAKING, prefix + name, "field removed")
        for name, schema in new_props.items():
            if not _resolve(schema, self.new_root).get("description"):
                self.note(Level.UNDESCRIBED, prefix + name, "no description")
            if name not in old_props:
                if name in new_required:
                    self.note(Level.BREAKING, prefix + name, "new required field")
                else:
                    self.note(Level.ADDITIVE, prefix + name, "optional field added")
                continue
            if name in new_required and name not in old_required:
                self.note(Level.BREAKING, prefix + name, "field made required")
            elif name in old_required and name not in new_required:
                self.note(Level.WIDENING, prefix + name, "field made optional")
            self.walk(old_props[name], schema, prefix + name)
        old_extra, new_extra = (
            old.get("additionalProperties", True),
            new.get("additionalProperties", True),
        )
        if old_extra is False and new_extra is not False:
            self.note(Level.WIDENING, path, "unknown fields now tolerated")
        elif new_extra is False and old_extra is not False:
            self.note(Level.BREAKING, path, "unknown fields now refused")


def _resolve(schema: Schema, root: Schema) -> Schema:
    """The schema with its `$ref` replaced by the definition (its own keys win)."""
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        target = root.get("$defs", {}).get(name)
        if target is None:
            raise ValueError(f"unresolvable $ref {schema['$ref']!r}")
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _branches(schema: Schema, root: Schema) -> tuple[list[Schema], bool]:
    """The non-null alternatives of a schema, and whether null is one."""
    choices = schema.get("anyOf", [schema])
    resolved = [_resolve(choice, root) for choice in choices]
    nullable = any(choice.get("type") == "null" for choice in resolved)
    kept = [choice for choice in resolved if choice.get("type") != "null"]
    if "anyOf" not in schema:
        return kept or [schema], nullable
    return kept, nullable


def _shape(schema: Schema) -> str:
    """A branch without its annotations, comparable across schemas."""
    return repr(sorted((k, repr(v)) for k, v in schema.items() if k not in _ANNOTATIONS))
