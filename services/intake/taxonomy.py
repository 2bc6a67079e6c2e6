"""The three-level complaint taxonomy (../shared/data/taxonomy.csv), grouped into services."""

import csv
import hashlib
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

COLUMNS = ("level1", "level2", "level3")


class TaxonomyError(ValueError):
    """The taxonomy file is not the three-column CSV it should be."""


@dataclass(frozen=True)
class Category:
    """One level-2 category under its level-1 category, with its level-3 categories."""

    code: str
    level1: str
    level2: str
    level3: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    """The level-2 categories in file order, findable by code."""

    categories: tuple[Category, ...]
    _by_code: dict[str, Category] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {c.code: c for c in self.categories})

    def get(self, code: str) -> Category | None:
        """The category with this code, if any."""
        return self._by_code.get(code)


def category_code(level1: str, level2: str) -> str:
    """A short ASCII code for a level-2 category that survives reordering the file."""
    # A level-2 name such as 其他 recurs under several level-1 names, so both are hashed.
    return "c" + hashlib.sha256(f"{level1}/{level2}".encode()).hexdigest()[:8]


def parse_taxonomy(lines: list[str]) -> Taxonomy:
    """Group the rows of the taxonomy CSV by their (level1, level2) pair."""
    reader = csv.DictReader(lines)
    if reader.fieldnames is None or not set(COLUMNS) <= set(reader.fieldnames):
        raise TaxonomyError(f"expected the columns {', '.join(COLUMNS)}, got {reader.fieldnames}")
    groups: dict[tuple[str, str], list[str]] = {}
    for row in reader:
        level1, level2, level3 = ((row.get(name) or "").strip() for name in COLUMNS)
        if not level1 or not level2:
            continue
        names = groups.setdefault((level1, level2), [])
        if level3 and level3 not in names:
            names.append(level3)
    categories = tuple(
        Category(code=category_code(l1, l2), level1=l1, level2=l2, level3=tuple(names))
        for (l1, l2), names in groups.items()
    )
    if not categories:
        raise TaxonomyError("the taxonomy has no categories")
    if len({c.code for c in categories}) != len(categories):
        raise TaxonomyError("two categories hash to the same code; lengthen the code")
    return Taxonomy(categories=categories)


@lru_cache(maxsize=4)
def load_taxonomy(path: Path) -> Taxonomy:
    """Read and group the taxonomy once per path; later calls get the cached copy."""
    text = path.read_text(encoding="utf-8-sig")
    taxonomy = parse_taxonomy(text.splitlines())
    log.info("loaded %d taxonomy categories from %s", len(taxonomy.categories), path)
    return taxonomy
