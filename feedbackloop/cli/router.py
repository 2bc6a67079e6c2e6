"""`feedbackloop router train|eval|replay-corrections|raw-dev|hotspots`: the router's model."""

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(help="Train and evaluate the router's category model.")
console = Console()


def _model_dir(out: Path | None) -> Path:
    from services.router.config import get_settings

    return out or get_settings().model_dir


@app.command()
def train(
    data_dir: Path = typer.Option(None, help="Folder with train.csv and dev.csv [../shared/data]."),
    out: Path = typer.Option(
        None, help="Where to write the model [FEEDBACKLOOP_ROUTER_MODEL_DIR]."
    ),
    if_missing: bool = typer.Option(False, "--if-missing", help="Only if no usable model exists."),
    with_corrections: bool = typer.Option(
        False, "--with-corrections", help="Also learn from operators' triage choices."
    ),
    database_url: str = typer.Option(
        None, help="The router's store with the corrections [FEEDBACKLOOP_ROUTER_DATABASE_URL]."
    ),
    hold_raw: bool = typer.Option(
        True, "--raw-dev/--no-raw-dev", help="Also hold the threshold on the raw dev set."
    ),
) -> None:
    """Train on train.csv, pick the threshold on dev.csv and the raw dev set, save with a card."""
    from feedbackloop.devstack.config import StackSettings
    from services.router import rawdev
    from services.router.classifier import CategoryModel
    from services.router.config import get_settings
    from services.router.training import read_corrections, read_labelled
    from services.router.training import train as train_model

    target = _model_dir(out)
    if if_missing:
        try:
            CategoryModel.load(target)
            console.print(f"Model present in {target}; not retraining.")
            return
        except ValueError:
            pass
    source = data_dir or StackSettings().data_dir
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("reading the labelled data", total=None)

        def step(what: str) -> None:
            progress.update(task, description=what)

        train_set = read_labelled(source / "train.csv", text_columns=["subject", "body"])
        dev_set = read_labelled(source / "dev.csv", text_columns=["subject", "body"])
        raw_set = None
        if hold_raw:
            try:
                raw_set = rawdev.read(source)
            except (OSError, ValueError) as exc:
                console.print(f"[yellow]No raw dev set ({exc}); the threshold holds on dev.[/]")
        extra = None
        if with_corrections:
            step("reading the corrections")
            extra = read_corrections(database_url or get_settings().database_url)
        model, metrics = train_model(
            train=train_set, dev=dev_set, raw=raw_set, extra=extra, progress=step
        )
        step("saving")
        model.save(target)
    console.print(
        f"Saved to {target}: dev macro-F1 {metrics['macro_f1']}, accuracy {metrics['accuracy']}, "
        f"threshold {model.threshold} -> {metrics['auto_rate']:.1%} auto-assigned at "
        f"{metrics['auto_precision']:.1%} precision, {model.card['train_seconds']} s to fit, "
        f"{model.card['corrections']} corrections"
    )
    if "raw" in model.card:
        figures = model.card["raw"]
        console.print(
            f"Raw dev set: macro-F1 {figures['macro_f1']}, {figures['auto_rate']:.1%} "
            f"auto-assigned at {figures['auto_precision']:.1%} precision "
            f"(thresholds {model.card['thresholds']})"
        )


@app.command("eval")
def evaluate(
    data: Path = typer.Option(
        ..., exists=True, dir_okay=False, help="Labelled CSV (column label)."
    ),
    text_columns: str = typer.Option("subject,body", help="Columns joined as the text."),
    model_dir: Path = typer.Option(
        None, "--model", help="Model folder [FEEDBACKLOOP_ROUTER_MODEL_DIR]."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="End with one JSON line of the key figures."
    ),
    report: Path = typer.Option(
        None,
        file_okay=False,
        help="Also write report.json (calibration bins, per department) and reliability.png here.",
    ),
) -> None:
    """Print macro-F1, accuracy, per-class figures, the confusion matrix and the auto rate."""
    from services.router.classifier import CategoryModel
    from services.router.training import evaluate as evaluate_model
    from services.router.training import read_labelled

    try:
        model = CategoryModel.load(_model_dir(model_dir))
        labelled = read_labelled(data, text_columns=[c.strip() for c in text_columns.split(",")])
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    metrics = evaluate_model(model, labelled)
    console.print(
        f"{metrics['items']} items: macro-F1 {metrics['macro_f1']}, "
        f"accuracy {metrics['accuracy']}, "
        f"auto-assigned {metrics['auto_rate']:.1%} at threshold {metrics['threshold']} with "
        f"precision {metrics['auto_precision']:.1%}, {metrics['ms_per_item']} ms per item"
    )
    per_class = Table("category", "precision", "recall", "F1", "support")
    for label, row in metrics["per_class"].items():
        per_class.add_row(label, *(str(row[k]) for k in ("precision", "recall", "f1", "support")))
    console.print(per_class)
    confusion = Table("true \\ predicted", *metrics["labels"])
    for label, counts in zip(metrics["labels"], metrics["confusion"], strict=True):
        confusion.add_row(label, *(str(n) for n in counts))
    console.print(confusion)
    if report:
        _write_report(model, labelled, report)
    if as_json:
        keys = ("macro_f1", "accuracy", "auto_rate", "auto_precision", "ms_per_item")
        typer.echo(json.dumps({k: metrics[k] for k in keys}))


def _write_report(model: Any, labelled: Any, directory: Path) -> None:
    from feedbackloop.cli.report import draw_reliability
    from services.router.config import get_settings
    from services.router.reliability import reliability
    from services.router.rules import load_rule_table

    table = load_rule_table(get_settings().rules_path)
    figures = reliability(
        model.predict_proba(labelled.texts),
        labelled.labels,
        model.classes,
        threshold=model.threshold,
        categories=table.categories,
        departments=table.departments,
    )
    figures["data"] = labelled.source
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(
        json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    draw_reliability(figures, directory / "reliability.png", title=labelled.source.split("@")[0])
    console.print(f"Report in {directory}: report.json, reliability.png")


@app.command("replay-corrections")
def replay_corrections(
    data: Path = typer.Option(
        None, exists=True, dir_okay=False, help="Labelled CSV to replay [the raw dev set]."
    ),
    text_columns: str = typer.Option("subject,detail", help="Columns joined as the text."),
    share: float = typer.Option(0.5, help="Share of each category replayed as the stream."),
    seed: int = typer.Option(17, help="Seed of the split into stream and rest."),
    data_dir: Path = typer.Option(None, help="Folder with train.csv and dev.csv [../shared/data]."),
    model_dir: Path = typer.Option(
        None, "--model", help="The model that routes the stream [FEEDBACKLOOP_ROUTER_MODEL_DIR]."
    ),
    database_url: str = typer.Option(
        None, help="Store for the corrections [a new SQLite file in a temporary folder]."
    ),
    as_json: bool = typer.Option(False, "--json", help="End with one JSON line of the figures."),
) -> None:
    """Replay part of a labelled set as triage choices and returns, retrain, measure the rest."""
    import tempfile

    from feedbackloop.devstack.config import StackSettings
    from feedbackloop.runtime.sql import create_store
    from services.router import rawdev
    from services.router.classifier import CategoryModel
    from services.router.models import Base
    from services.router.replay import measure, replay, split
    from services.router.training import read_corrections, read_labelled
    from services.router.training import train as train_model

    source = data_dir or StackSettings().data_dir
    try:
        model = CategoryModel.load(_model_dir(model_dir))
        labelled = (
            read_labelled(data, text_columns=[c.strip() for c in text_columns.split(",")])
            if data
            else rawdev.read(source)
        )
        stream, rest = split(labelled, share=share, seed=seed)
    except (OSError, ValueError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    with tempfile.TemporaryDirectory() as scratch:
        url = database_url or f"sqlite:///{Path(scratch) / 'router.db'}"
        replayed = replay(model=model, stream=stream, sessions=create_store(url, Base.metadata))
        console.print(
            f"Replayed {len(stream.texts)} items: {replayed.triaged} chosen at triage, "
            f"{replayed.returned} returned, {replayed.assigned_right} right at once"
        )
        train_set = read_labelled(source / "train.csv", text_columns=["subject", "body"])
        dev_set = read_labelled(source / "dev.csv", text_columns=["subject", "body"])
        retrained, _ = train_model(
            train=train_set, dev=dev_set, raw=stream, extra=read_corrections(url)
        )
    figures = {
        name: measure(m, dev=dev_set, rest=rest)
        for name, m in (("before", model), ("after", retrained))
    }
    keys = ("macro_f1", "accuracy", "auto_rate", "auto_precision")
    table = Table(f"on the other {len(rest.texts)} items", *keys)
    for name, row in figures.items():
        table.add_row(name, *(str(row[k]) for k in keys))
    console.print(table)
    if as_json:
        counts = {
            "stream": len(stream.texts),
            "rest": len(rest.texts),
            "triaged": replayed.triaged,
            "returned": replayed.returned,
        }
        typer.echo(json.dumps(figures | counts))


@app.command("raw-dev")
def raw_dev(
    out: Path = typer.Option(..., dir_okay=False, help="Where to write the CSV."),
    data_dir: Path = typer.Option(None, help="Folder with the raw message files [../shared/data]."),
    certain_only: bool = typer.Option(
        False, "--certain-only", help="Leave out the items the labellers marked doubtful."
    ),
) -> None:
    """The labels joined with the raw texts, for `eval --text-columns subject,detail`."""
    from feedbackloop.devstack.config import StackSettings
    from services.router import rawdev

    try:
        items = rawdev.build(data_dir or StackSettings().data_dir, certain_only=certain_only)
    except (OSError, ValueError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    rawdev.write(items, out)
    doubtful = sum(item.doubt for item in items)
    console.print(f"{len(items)} raw messages ({doubtful} doubtful) written to {out}")


@app.command()
def hotspots(
    data: Path = typer.Option(..., exists=True, dir_okay=False, help="CSV: time, subject, detail."),
    min_items: int = typer.Option(5, help="Items about one place that make a hotspot."),
    hours: float = typer.Option(24, help="Window of a hotspot, in hours."),
    model_dir: Path = typer.Option(None, "--model", help="Model folder for the categories."),
) -> None:
    """Replay messages in time order through duplicate and hotspot detection; print findings."""
    import csv
    from datetime import timedelta

    from feedbackloop.places import place_of
    from services.router.classifier import CategoryModel
    from services.router.hotspots import Detector
    from services.router.timestamps import parse_local_time
    from services.signals.bursts import Counter

    model = CategoryModel.load(_model_dir(model_dir))
    with data.open(encoding="utf-8-sig", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if parse_local_time(r.get("time", ""))]
    rows.sort(key=lambda r: parse_local_time(r["time"]))  # type: ignore[arg-type,return-value]
    texts = [f"{r['subject']}\n{r['detail']}" for r in rows]
    categories = [ranked[0][0] for ranked in model.rank(texts, 1)]
    # The router's near-duplicate window and the signals worker's counting, in one process.
    detector = Detector()
    bursts = Counter(items=min_items, window=timedelta(hours=hours).total_seconds())
    duplicates, found = [], []
    for row, text, category in zip(rows, texts, categories, strict=True):
        at = parse_local_time(row["time"])
        assert at is not None
        seen = detector.observe(ticket_id=row["id"], ticket_no=row["id"], text=text, at=at)
        if seen.duplicate_of:
            duplicates.append((row["id"], seen.duplicate_of, seen.similarity, row["subject"]))
        place = place_of(text)
        spot = place and bursts.count(
            place=place, category=category, ticket_no=row["id"], at=at.timestamp()
        )
        if spot:
            found.append(spot)
    first, last = parse_local_time(rows[0]["time"]), parse_local_time(rows[-1]["time"])
    console.print(
        f"{len(rows)} messages from {first:%Y-%m-%d} to {last:%Y-%m-%d}: "
        f"{len(duplicates)} near-duplicates, {len(found)} hotspots",
        soft_wrap=True,
    )
    for item, earlier, similarity, subject in duplicates[:15]:
        console.print(
            f"  duplicate {item} of {earlier} ({similarity:.2f}): {' '.join(subject.split())[:40]}",
            soft_wrap=True,
        )
    for spot in found:
        console.print(
            f"  hotspot {spot.place} / {spot.category}: {len(spot.ticket_nos)} items "
            f"{spot.first_at:%Y-%m-%d %H:%M} to {spot.last_at:%Y-%m-%d %H:%M}",
            soft_wrap=True,
        )
