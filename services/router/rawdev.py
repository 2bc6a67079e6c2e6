"""The raw-text dev set: labels kept in the repository, texts read from the source's files.

`data/raw-dev/labels.csv` names each labelled message by its file and id in ../shared/data
(the texts are not copied into the repository). `build` joins the two into the rows
`feedbackloop router eval --text-columns subject,detail` reads: the subject and the detail
exactly as the citizen wrote them, whitespace, typos and all.
"""

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from services.router.training import Labelled

#: The folder of the labels, from the repository's root.
LABELS = Path(__file__).resolve().parents[2] / "data" / "raw-dev" / "labels.csv"
COLUMNS = ("file", "id", "subject", "detail", "label", "doubt")


@dataclass(frozen=True)
class RawItem:
    """One labelled raw message."""

    file: str
    id: str
    subject: str
    detail: str
    label: str
    #: 1 where the labellers found two categories defensible or the topic outside the seven.
    doubt: int

    def row(self) -> dict[str, str]:
        return {
            "file": self.file,
            "id": self.id,
            "subject": self.subject,
            "detail": self.detail,
            "label": self.label,
            "doubt": str(self.doubt),
        }


def _messages(path: Path, wanted: set[str]) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return {row["id"]: row for row in csv.DictReader(handle) if row["id"] in wanted}


def build(data_dir: Path, *, labels: Path = LABELS, certain_only: bool = False) -> list[RawItem]:
    """Every labelled message with its text; ValueError if one is missing from `data_dir`."""
    with labels.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    wanted: dict[str, set[str]] = {}
    for row in rows:
        wanted.setdefault(row["file"], set()).add(row["id"])
    texts = {name: _messages(data_dir / name, ids) for name, ids in wanted.items()}
    items = []
    for row in rows:
        message = texts[row["file"]].get(row["id"])
        if message is None:
            raise ValueError(f"{row['file']} in {data_dir} has no message {row['id']}")
        item = RawItem(
            file=row["file"],
            id=row["id"],
            subject=message["subject"],
            detail=message["detail"],
            label=row["label"],
            doubt=int(row["doubt"] or 0),
        )
        if not (certain_only and item.doubt):
            items.append(item)
    return items


def write(items: list[RawItem], out: Path) -> None:
    """The rows as a CSV with the columns `COLUMNS`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(item.row() for item in items)


def read(data_dir: Path, *, labels: Path = LABELS, certain_only: bool = False) -> Labelled:
    """The set as training and evaluation read it: subject and detail joined by '。'."""
    items = build(data_dir, labels=labels, certain_only=certain_only)
    digest = hashlib.sha256(labels.read_bytes()).hexdigest()[:12]
    return Labelled(
        texts=[f"{item.subject.strip()}。{item.detail.strip()}" for item in items],
        labels=[item.label for item in items],
        source=f"raw-dev@{digest}",
    )
