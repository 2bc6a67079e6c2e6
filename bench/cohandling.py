"""Co-handling suggestions (issue 17, point 5) on the raw dev set: how often, and how right.

For every labelled raw message, ranks the categories with the trained model, builds the
departments as routing does (`candidates_for`, top 3) and asks `co_handling` for a pair.
Prints, for all items and for the triage items (no operator rule matched and the first
probability below the threshold, as `decide` sends them to the dispatch desk, the only place
the suggestion is shown), each also split by the labellers' doubt flag: the share of items
with a suggestion, the top-1 accuracy of suggested items, and the share of suggested items
whose true label is one of the pair. `--sweep` prints the same on triage items for a grid of
constants, which is how `services/router/cohandling.py` chose its own.

    .venv/bin/feedbackloop router raw-dev --out /tmp/cohandling/raw-dev.csv
    .venv/bin/python -m bench.cohandling --data /tmp/cohandling/raw-dev.csv [--sweep]
"""

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from feedbackloop.events import Candidate
from services.router.classifier import CategoryModel
from services.router.cohandling import MIN_PAIR, MIN_SECOND, co_handling
from services.router.config import get_settings
from services.router.rules import candidates_for, load_rule_table


@dataclass(frozen=True)
class Item:
    """One labelled message as the bench sees it."""

    label: str
    doubt: bool
    triage: bool
    candidates: list[Candidate]


def load_items(data: Path, model: CategoryModel, threshold: float) -> list[Item]:
    """The raw dev rows (subject, detail, label, doubt) ranked by the model."""
    settings = get_settings()
    table = load_rule_table(settings.rules_path)
    with data.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    texts = [f"{row['subject'].strip()}。{row['detail'].strip()}" for row in rows]
    items = []
    for row, text, ranked in zip(rows, texts, model.rank(texts, 3), strict=True):
        candidates = candidates_for(table, ranked, limit=3)
        unsure = not candidates or candidates[0].probability < threshold
        items.append(
            Item(
                label=row["label"],
                doubt=row.get("doubt", "0").strip() == "1",
                triage=unsure and table.best_rule(text) is None,
                candidates=candidates,
            )
        )
    return items


def figures(items: list[Item], *, min_second: float, min_pair: float) -> dict[str, float]:
    """Share suggested, and top-1 accuracy and pair coverage of the suggested items."""
    found = (
        (item, co_handling(item.candidates, min_second=min_second, min_pair=min_pair))
        for item in items
    )
    pairs = [(item, pair) for item, pair in found if pair is not None]
    n = len(pairs)
    lead_right = sum(1 for item, pair in pairs if pair.lead.category == item.label)
    co_right = sum(1 for item, pair in pairs if pair.co.category == item.label)
    return {
        "items": len(items),
        "suggested": n,
        "share": n / len(items) if items else 0.0,
        "top1": lead_right / n if n else 0.0,
        "pair": (lead_right + co_right) / n if n else 0.0,
        "co_right": co_right,
    }


def _line(name: str, f: dict[str, float]) -> str:
    return (
        f"{name:<22}{f['items']:>6.0f}{f['suggested']:>10.0f}{f['share']:>9.1%}"
        f"{f['top1']:>9.1%}{f['pair']:>9.1%}"
    )


def report(items: list[Item], *, min_second: float, min_pair: float) -> None:
    """The figures for all items and for triage items, each split by the doubt flag."""
    floors = {"min_second": min_second, "min_pair": min_pair}
    print(f"rule: second >= {min_second:.2f} and first + second >= {min_pair:.2f}")
    print(f"{'':<22}{'items':>6}{'suggested':>10}{'share':>9}{'top-1':>9}{'in pair':>9}")
    for population, chosen in (("all", items), ("triage", [i for i in items if i.triage])):
        doubtful = [i for i in chosen if i.doubt]
        certain = [i for i in chosen if not i.doubt]
        print(_line(population, figures(chosen, **floors)))
        print(_line(f"{population}, doubt=1", figures(doubtful, **floors)))
        print(_line(f"{population}, doubt=0", figures(certain, **floors)))


def sweep(items: list[Item]) -> None:
    """Share / in pair / items whose second department is the label, on triage items."""
    triage = [i for i in items if i.triage]
    pair_floors = (0.75, 0.8, 0.85, 0.9, 0.95)
    print("\ntriage items, share / in pair / second right; rows: second >=, columns: pair >=")
    print(f"{'':<6}" + "".join(f"{p:>21.2f}" for p in pair_floors))
    for second in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4):
        cells = []
        for pair_floor in pair_floors:
            f = figures(triage, min_second=second, min_pair=pair_floor)
            cells.append(f"{f['share']:.1%} / {f['pair']:.1%} / {f['co_right']:.0f}")
        print(f"{second:<6.2f}" + "".join(f"{c:>21}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="raw dev CSV (router raw-dev)")
    parser.add_argument("--model-dir", type=Path, help="the trained model [the router's]")
    parser.add_argument("--threshold", type=float, help="confidence threshold [the model's]")
    parser.add_argument("--min-second", type=float, default=MIN_SECOND)
    parser.add_argument("--min-pair", type=float, default=MIN_PAIR)
    parser.add_argument("--sweep", action="store_true", help="also print a grid of constants")
    args = parser.parse_args()
    settings = get_settings()
    model_dir = args.model_dir or settings.model_dir
    try:
        model = CategoryModel.load(model_dir)
    except ValueError as exc:
        sys.exit(f"{exc}\ntrain it first: .venv/bin/feedbackloop router train")
    threshold = next(
        t for t in (args.threshold, settings.confidence_threshold, model.threshold) if t is not None
    )
    items = load_items(args.data, model, threshold)
    print(
        f"model {model_dir} ({model.card.get('trained_at', '?')}), threshold {threshold:.2f}; "
        f"{len(items)} items, {sum(i.triage for i in items)} to triage"
    )
    report(items, min_second=args.min_second, min_pair=args.min_pair)
    if args.sweep:
        sweep(items)


if __name__ == "__main__":
    main()
