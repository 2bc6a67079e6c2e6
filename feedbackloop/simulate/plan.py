"""Planning a day of 12345 traffic from the real citizen messages in ../shared/data.

The plan is pure data and reproducible from its seed: when each item arrives, through which
channel, its raw text, how long its department takes to accept (签收) and to resolve (办结),
and what the citizen answers on the callback survey (回访). Replaying it is `driver`'s job.

- Arrivals follow `HOURLY`, the share of a day's calls in each hour: quiet at night, peaks
  at 9-11 and 14-16, a smaller one after dinner (the usual shape of a city hotline's day).
- Resolve delays are drawn from the real reply delays in messages_with_replies.csv
  (reply_time - time). The data has no acceptance times; acceptance is drawn as a share
  (5-30 %) of the item's resolve delay, capped at one day.
"""

import csv
import json
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

DAY_SECONDS = 24 * 3600.0

#: Share of a day's items arriving in each hour (0-23); sums to 1.
_WEIGHTS = (
    1,
    0.6,
    0.4,
    0.3,
    0.3,
    0.5,
    1.2,
    2.6,
    5.2,
    7.4,
    7.8,
    7.0,
    5.0,
    5.6,
    7.2,
    7.4,
    6.8,
    5.8,
    4.4,
    4.2,
    4.4,
    3.8,
    2.6,
    1.5,
)
HOURLY = tuple(w / sum(_WEIGHTS) for w in _WEIGHTS)

CHANNELS = ("hotline", "wechat", "web")
ANSWERS = ("satisfied", "basically", "dissatisfied", "none")
#: What a citizen who gives each satisfaction says about "solved?".
SOLVED = {"satisfied": "solved", "basically": "partly", "dissatisfied": "not", "none": "none"}

_TEXT_FILES = ("messages_unlabelled.csv", "messages_with_votes.csv", "messages_with_replies.csv")
_BLANKS = re.compile(r"\s+")
_TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Mix:
    """Shares of a whole (channels or survey answers), normalised when drawn."""

    shares: dict[str, float]

    @classmethod
    def parse(cls, text: str, *, allowed: Iterable[str]) -> "Mix":
        """'hotline=45,wechat=35,web=20' -> a Mix; ValueError names what is wrong."""
        shares: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            if name not in allowed:
                raise ValueError(f"unknown name {name!r}; use {', '.join(allowed)}")
            shares[name] = float(value)
        if not shares or min(shares.values()) < 0 or sum(shares.values()) <= 0:
            raise ValueError(f"{text!r} needs non-negative shares with a positive sum")
        return cls(shares)

    def draw(self, rng: random.Random) -> str:
        """One name, with probability proportional to its share."""
        names = list(self.shares)
        return rng.choices(names, weights=[self.shares[n] for n in names])[0]


DEFAULT_CHANNELS = Mix({"hotline": 45, "wechat": 35, "web": 20})
DEFAULT_SURVEY = Mix({"satisfied": 70, "basically": 15, "dissatisfied": 8, "none": 7})


@dataclass(frozen=True)
class PlannedItem:
    """One citizen's item and what happens to it, as the ground truth records it."""

    n: int
    #: Seconds into the day at which the citizen speaks.
    at: float
    channel: str
    title: str
    text: str
    #: Stable per item: idempotency key, hotline call id and WeChat MsgId derive from it.
    key: str
    #: Seconds after routing that the department accepts (签收), and then resolves (办结).
    accept_after: float
    resolve_after: float
    #: The real department reply that took `resolve_after`, used as the resolution text.
    reply: str
    survey: str
    solved: str


def load_texts(data_dir: Path) -> list[tuple[str, str]]:
    """(title, raw text) of every usable message, as citizens wrote them."""
    texts = []
    for name in _TEXT_FILES:
        with (data_dir / name).open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                text = _BLANKS.sub(" ", row["detail"]).strip()
                if len(text) >= 5:
                    texts.append((row["subject"].strip()[:100], text[:4000]))
    return texts


def _parse_time(text: str) -> datetime | None:
    for pattern in _TIME_FORMATS:
        try:
            return datetime.strptime(text.strip(), pattern)
        except ValueError:
            continue
    return None


def reply_delays(data_dir: Path) -> list[tuple[float, str]]:
    """(seconds from message to reply, the reply) for every row where both times parse."""
    delays = []
    with (data_dir / "messages_with_replies.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            asked, answered = _parse_time(row["time"]), _parse_time(row["reply_time"])
            reply = _BLANKS.sub(" ", row["reply"]).strip()[:2000]
            if asked and answered and answered >= asked and reply:
                delays.append(((answered - asked).total_seconds(), reply))
    if not delays:
        raise ValueError("messages_with_replies.csv has no usable time / reply_time pairs")
    return delays


def arrival_times(count: int, rng: random.Random) -> list[float]:
    """`count` sorted moments of a day (seconds), following HOURLY."""
    hours = rng.choices(range(24), weights=HOURLY, k=count)
    return sorted(hour * 3600 + rng.random() * 3600 for hour in hours)


def plan_day(
    *,
    items: int,
    seed: int,
    data_dir: Path,
    channels: Mix = DEFAULT_CHANNELS,
    survey: Mix = DEFAULT_SURVEY,
) -> list[PlannedItem]:
    """The plan of a day of `items` items, the same for the same seed and data."""
    rng = random.Random(seed)
    texts, delays = load_texts(data_dir), reply_delays(data_dir)
    planned = []
    for n, at in enumerate(arrival_times(items, rng)):
        title, text = rng.choice(texts)
        resolve_after, reply = rng.choice(delays)
        answer = survey.draw(rng)
        planned.append(
            PlannedItem(
                n=n,
                at=round(at, 3),
                channel=channels.draw(rng),
                title=title,
                text=text,
                key=f"sim-{seed}-{n:07d}",
                accept_after=round(min(resolve_after * rng.uniform(0.05, 0.3), 86400.0), 1),
                resolve_after=resolve_after,
                reply=reply,
                survey=answer,
                solved=SOLVED[answer],
            )
        )
    return planned


def write_plan(path: Path, planned: Iterable[PlannedItem]) -> None:
    """The plan as JSON lines, one item per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for item in planned:
            out.write(json.dumps(asdict(item), ensure_ascii=False) + "\n")


def read_plan(path: Path) -> Iterator[PlannedItem]:
    """Items written by `write_plan`."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield PlannedItem(**json.loads(line))
