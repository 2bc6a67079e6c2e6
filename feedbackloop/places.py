"""The place an item names: a residential compound, road, village, school, ...

Shared by the signals worker (hotspots and surges are counted per place; a district such as
"A3区" alone is too broad to make a burst) and the metrics' monthly report (每月一题 names the
places that recur), so that both read a place the same way.
"""

import re
from collections.abc import Iterator

_SUFFIXES = (
    "小区|花园|花苑|家园|公寓|大厦|广场|公园|社区|村|镇|"
    "街道|大道|路|街|学校|中学|小学|幼儿园|医院|市场"
)
_NAME_CHARS = r"[\u4e00-\u9fa5A-Za-z0-9]"
#: A place: 2-12 letters, as few as will do, then a suffix. `place_of` finds the same
#: matches faster; this is their definition (and the reference in the tests).
PLACE = re.compile(rf"({_NAME_CHARS}{{2,12}}?(?:{_SUFFIXES}))")
#: Every position where a suffix starts (overlapping), with the first one listed there.
_SUFFIX_AT = re.compile(rf"(?=({_SUFFIXES}))")


# Characters that end a name when reading backwards from the place suffix ("我们来自农村"
# is not a village called 我们来自农).
_BREAK = re.compile(
    r"[的是在了我们你他她要必须去和与及对把被从向于其有关今特别包括来自位住这那因为受]"
)
_SUFFIX = re.compile(rf"(?:{_SUFFIXES})$")


def place_of(text: str) -> str | None:
    """The first specific place an item names, if any (e.g. 'A3区幸福小区')."""
    for found in _place_matches(text):
        suffix = _SUFFIX.search(found)
        assert suffix is not None
        name = _BREAK.split(found[: suffix.start()])[-1]
        if len(name) >= 2:
            return name + suffix.group(0)
    return None


def _is_name_char(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fa5" or (char.isascii() and char.isalnum())


def _place_matches(text: str) -> Iterator[str]:
    """What `PLACE.finditer` matches, found from the suffixes instead of from every position
    (where the lazy repeat tries 21 suffixes after each of up to 12 letters).

    The leftmost match ends at the first suffix, at q, that has at least two letters right
    before it, not counting what an earlier match took; it starts as far back as the
    letters, 12 of them and that earlier match allow.
    """
    taken = 0
    for at in _SUFFIX_AT.finditer(text):
        q, suffix = at.start(), at.group(1)
        if q < taken:
            continue
        start, limit = q, max(q - 12, taken)
        while start > limit and _is_name_char(text[start - 1]):
            start -= 1
        if q - start < 2:
            continue
        taken = q + len(suffix)
        yield text[start:taken]
