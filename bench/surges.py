"""舆情预警 (surge warning) replayed: does a burst show within minutes, does the quiet stay quiet?

Two replays through `services.signals.surges.Detector`, keyed as the signals worker keys
items (category from the router's model, district, place from the text):

1. The message board's export (`messages_with_votes.csv`, 4,269 raw messages over two and a
   half years), in time order: every alert there is counted as a false alarm, since the
   export holds no known incident. Then the same replay `--trials` times with one injected
   burst each (12 messages in 30 minutes about one new place, text from a real message of a
   random moment, the place swapped in): the detection delay from the burst's first item.
2. A simulated city: five weeks of Poisson arrivals at `--per-day` items a day with Beijing's
   daily rhythm, over 7 categories and 16 districts, then bursts injected into one category
   and district (a tenth of that key's usual hour again, per 10 minutes): the false-alarm rate
   per key-hour of the quiet weeks, and the delay.

    .venv/bin/python -m bench.surges [--trials 20] [--per-day 20000]
"""

import argparse
import csv
import json
import random
import re
import statistics
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench import machine
from feedbackloop.places import place_of
from feedbackloop.tone import is_heated
from services.router.classifier import CategoryModel
from services.router.config import get_settings
from services.signals.surges import HOUR, WEEK, Detector, SurgeRules

BEIJING = ZoneInfo("Asia/Shanghai")
DISTRICT = re.compile(r"[A-Z]\d{1,2}区")
#: Share of a day's items in each Beijing hour (12345's rhythm: busy mornings, quiet nights).
RHYTHM = [
    *(0.4, 0.2, 0.1, 0.1, 0.1, 0.3, 0.8, 2.0, 5.0, 8.0, 9.0, 8.5),
    *(6.0, 6.5, 8.0, 8.0, 7.5, 7.0, 5.5, 4.5, 4.0, 3.0, 1.8, 0.9),
]


@dataclass(frozen=True)
class Message:
    at: float
    text: str
    category: str


def parse_time(text: str) -> float:
    for pattern in ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text.strip(), pattern).replace(tzinfo=BEIJING).timestamp()
        except ValueError:
            continue
    raise ValueError(text)


def load(path: Path) -> list[Message]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    texts = [f"{r['subject'].strip()}\n{' '.join(r['detail'].split())}" for r in rows]
    settings = get_settings()
    model = CategoryModel.load(settings.model_dir)
    ranked = model.rank(texts, 1)
    messages = [
        Message(parse_time(r["time"]), text, best[0][0])
        for r, text, best in zip(rows, texts, ranked, strict=True)
    ]
    return sorted(messages, key=lambda m: m.at)


def feed(detector: Detector, number: str, message: Message) -> list[tuple[str, str, float]]:
    """Count one message under each of its keys; (dimension, key, at) of each alert."""
    keys = [("category", message.category)]
    if district := DISTRICT.search(message.text):
        keys.append(("district", district.group(0)))
    if place := place_of(message.text):
        keys.append(("place", place))
    heated = is_heated(message.text)
    alerts = []
    for dimension, key in keys:
        surge = detector.count(
            dimension=dimension, key=key, ticket_no=number, at=message.at, heated=heated
        )
        if surge is not None:
            alerts.append((dimension, key, message.at))
    return alerts


def replay(messages: list[Message], rules: SurgeRules) -> list[tuple[str, str, float]]:
    detector = Detector(rules)
    alerts = []
    for n, message in enumerate(messages):
        alerts.extend(feed(detector, f"m{n}", message))
    return alerts


def board(path: Path, rules: SurgeRules, trials: int, rng: random.Random) -> dict[str, object]:
    messages = load(path)
    span_days = (messages[-1].at - messages[0].at) / 86400
    quiet = replay(messages, rules)
    print(f"board: {len(messages)} messages over {span_days:.0f} days")
    print(f"  alerts without an injected burst: {len(quiet)} {quiet[:5]}")
    delays, missed = [], 0
    for trial in range(trials):
        at = rng.uniform(messages[len(messages) // 5].at, messages[-1].at)
        model = rng.choice(messages)
        place = f"测试{trial}号小区"
        burst = [
            Message(at + i * 150, f"{place}停水了，{model.text[:80]}", model.category)
            for i in range(12)
        ]
        alerts = replay(sorted(messages + burst, key=lambda m: m.at), rules)
        found = [a for a in alerts if a[1] == place]
        false = [a for a in alerts if a[1] != place]
        if found:
            delays.append((found[0][2] - at) / 60)
        else:
            missed += 1
        assert len(false) == len(quiet), "an injected burst changed alerts elsewhere"
    print(
        f"  injected place bursts (12 in 30 min): found {len(delays)}/{trials}, delay minutes "
        f"median {statistics.median(delays):.1f}, max {max(delays):.1f}; missed {missed}"
    )
    return {
        "messages": len(messages),
        "days": round(span_days),
        "false_alarms": len(quiet),
        "bursts_found": f"{len(delays)}/{trials}",
        "delay_minutes_median": round(statistics.median(delays), 1),
        "delay_minutes_max": round(max(delays), 1),
    }


def city(
    per_day: int, extra_share: float, rules: SurgeRules, rng: random.Random
) -> dict[str, object]:
    categories = [f"c{i}" for i in range(7)]
    districts = [f"A{i}区" for i in range(1, 17)]
    weights = [rng.uniform(0.5, 2.0) for _ in districts]
    start = datetime(2026, 10, 5, tzinfo=BEIJING).timestamp()  # a Monday
    detector = Detector(rules)
    total = sum(RHYTHM)
    alerts: list[tuple[str, str, float]] = []
    n = 0
    hours = int(5 * WEEK / HOUR)
    for hour in range(hours):
        rate = per_day * RHYTHM[hour % 24] / total
        count = _poisson(rng, rate)
        for at in sorted(start + hour * HOUR + rng.random() * HOUR for _ in range(count)):
            text = rng.choices(districts, weights)[0]
            for dimension, key in (("category", rng.choice(categories)), ("district", text)):
                if detector.count(dimension=dimension, key=key, ticket_no=f"s{n}", at=at):
                    alerts.append((dimension, key, at))
            n += 1
    warm = [a for a in alerts if a[2] >= start + WEEK]
    key_hours = (len(categories) + len(districts)) * (hours - 168)
    print(f"city: {n} items in 5 weeks ({per_day} a day)")
    print(
        f"  alerts after the first week: {len(warm)} over {key_hours} key-hours "
        f"(false-alarm rate {len(warm) / key_hours:.2e} per key-hour)"
    )
    for dimension, key, at in warm:
        moment = datetime.fromtimestamp(at, BEIJING)
        print(f"    {dimension} {key} {moment:%a %H:%M}")
    # Bursts in the sixth week's 10:00 hours: one district gets `--extra` times its usual
    # hour again within 30 minutes, on top of its usual arrivals.
    delays, missed, early = [], 0, 0
    usual = per_day * RHYTHM[10] / total * weights[0] / sum(weights)
    for day in range(7):
        trial = Detector(rules)
        trial.trends = dict(detector.trends)
        burst_at = start + 5 * WEEK + day * 24 * HOUR + 10 * HOUR + rng.random() * 1800
        district = districts[0]
        arrivals = [
            (burst_at - HOUR + rng.random() * 1.5 * HOUR, False)
            for _ in range(_poisson(rng, usual * 1.5))
        ]
        extra = max(int(usual * extra_share), 12)
        arrivals += [(burst_at + i * 1800 / extra, True) for i in range(extra)]
        found = None
        for i, (at, _) in enumerate(sorted(arrivals)):
            if trial.count(dimension="district", key=district, ticket_no=f"b{day}-{i}", at=at):
                if at < burst_at:
                    early += 1
                    continue
                found = at
                break
        if found is None:
            missed += 1
        else:
            delays.append((found - burst_at) / 60)
    print(
        f"  injected district bursts (+{extra_share:.0%} of a usual {usual:.0f}/h within 30 "
        f"min): found {len(delays)}/7, delay minutes median "
        f"{statistics.median(delays) if delays else float('nan'):.1f}, max "
        f"{max(delays) if delays else float('nan'):.1f}; alerts before the burst {early}"
    )
    return {
        "items": n,
        "per_day": per_day,
        "false_alarms": len(warm),
        "key_hours": key_hours,
        "false_alarm_rate_per_key_hour": float(f"{len(warm) / key_hours:.2e}"),
        "bursts_found": f"{len(delays)}/7",
        "burst_extra_share": extra_share,
        "delay_minutes_median": round(statistics.median(delays), 1) if delays else None,
        "delay_minutes_max": round(max(delays), 1) if delays else None,
    }


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method is slow for large means; the normal approximation is plenty there.
    if mean > 50:
        return max(0, round(rng.gauss(mean, mean**0.5)))
    limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/messages_with_votes.csv"))
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--per-day", type=int, default=20000)
    parser.add_argument("--extra", type=float, default=1.0, help="a district burst's size")
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rules = SurgeRules()
    results = {
        "benchmark": "surges",
        "what": "舆情预警 replayed: the message board's export with injected place bursts, and a "
        "simulated city with injected district bursts (false alarms, detection delay)",
        "board": board(args.data, rules, args.trials, rng),
        "city": city(args.per_day, args.extra, rules, rng),
        "machine": machine.describe(),
    }
    out = Path(__file__).parent / "results" / "surges.json"
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
