"""The category model: training, calibrated odds, thresholds, artifacts and `router eval`."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from feedbackloop.cli import app
from feedbackloop.devstack.config import StackSettings
from services.router.classifier import MAX_CHARS, CategoryModel, choose_threshold, prepare
from services.router.training import evaluate, read_labelled, train

DATA = StackSettings().data_dir


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on a slice of train.csv: quick, and good enough to tell categories apart."""
    full = read_labelled(DATA / "train.csv", text_columns=["subject", "body"])
    dev = read_labelled(DATA / "dev.csv", text_columns=["subject", "body"])
    small = type(full)(texts=full.texts[::4], labels=full.labels[::4], source="train/4")
    model, metrics = train(train=small, dev=dev)
    assert metrics["macro_f1"] > 0.8, metrics
    directory = tmp_path_factory.mktemp("model")
    model.save(directory)
    return directory


def test_a_saved_model_loads_and_ranks_categories(model_dir: Path) -> None:
    model = CategoryModel.load(model_dir)
    ranked = model.top("学校老师违规收取补课费，家长敢怒不敢言", 3)
    assert ranked[0][0] == "教育文体"
    assert [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)
    assert 0.3 <= model.threshold <= 1.0
    assert model.card["dev"]["macro_f1"] > 0.8
    assert sum(model.predict_proba(["随便说说"])[0]) == pytest.approx(1.0)


def test_a_model_of_another_version_is_refused(model_dir: Path, tmp_path: Path) -> None:
    for name in ("model.npz", "model.json"):
        (tmp_path / name).write_bytes((model_dir / name).read_bytes())
    card = json.loads((tmp_path / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps(dict(card, version="category-v0")))
    with pytest.raises(ValueError, match="category-v0"):
        CategoryModel.load(tmp_path)
    with pytest.raises(ValueError, match="no usable model"):
        CategoryModel.load(tmp_path / "nothing-here")


def test_raw_text_is_squeezed_and_cut_for_the_model() -> None:
    assert prepare("\n\t\t\t路灯  坏了\n\t") == "路灯 坏了"
    assert len(prepare("很" * 5000)) == MAX_CHARS


def test_the_threshold_is_where_precision_first_falls_below_target() -> None:
    classes = ["a", "b"]
    # Confidence 0.95 and 0.9 are right, 0.8 is wrong, 0.6 right again.
    probabilities = np.array([[0.95, 0.05], [0.9, 0.1], [0.8, 0.2], [0.6, 0.4]])
    labels = ["a", "a", "b", "a"]
    assert choose_threshold(probabilities, labels, classes, precision=0.9) == 0.81
    # 3 of 4 right even with everything included: every threshold passes, the lowest is taken.
    assert choose_threshold(probabilities, labels, classes, precision=0.6) == 0.3


def test_evaluate_reports_the_figures_the_issue_names(model_dir: Path) -> None:
    model = CategoryModel.load(model_dir)
    dev = read_labelled(DATA / "dev.csv", text_columns=["subject", "body"])
    small = type(dev)(texts=dev.texts[:80], labels=dev.labels[:80], source="dev/80")
    metrics = evaluate(model, small)
    assert set(metrics) >= {"macro_f1", "accuracy", "auto_rate", "auto_precision", "ms_per_item"}
    assert sum(map(sum, metrics["confusion"])) == 80
    assert metrics["per_class"]


def test_router_eval_ends_with_one_json_line(model_dir: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "raw.csv"
    csv_path.write_text(
        "id,subject,detail,label,extra\n"
        '1,学校乱收费,"\n\t\t某中学向学生收取补课费，每人两千元。\n\t",教育文体,x\n'
        "2,小区垃圾成堆,小区门口垃圾好几天没人清理，臭气熏天。,城乡建设,y\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app,
        [
            "router",
            "eval",
            "--data",
            str(csv_path),
            "--text-columns",
            "subject,detail",
            "--model",
            str(model_dir),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert set(figures) == {"macro_f1", "accuracy", "auto_rate", "auto_precision", "ms_per_item"}


def test_router_eval_names_a_missing_column(model_dir: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("subject,label\n路灯,城乡建设\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "router",
            "eval",
            "--data",
            str(csv_path),
            "--text-columns",
            "subject,detail",
            "--model",
            str(model_dir),
        ],
    )
    assert result.exit_code == 2
    assert "detail" in result.output


def test_training_learns_from_operators_corrections(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from feedbackloop.runtime.sql import create_store
    from services.router import service
    from services.router.models import Base
    from services.router.training import read_corrections

    url = f"sqlite:///{tmp_path / 'router.db'}"
    sessions = create_store(url, Base.metadata)
    with sessions.begin() as session:
        for n in range(6):
            service.create_correction(
                session=session,
                ticket_id=f"t{n}",
                text=f"村里第{n}组的低保名额分配不公",
                category="民政",
                source="triage",
                now=datetime.now(UTC),
            )
    corrections = read_corrections(url)
    assert corrections.labels == ["民政"] * 6
    train_set = read_labelled(DATA / "train.csv", text_columns=["subject", "body"])
    dev = read_labelled(DATA / "dev.csv", text_columns=["subject", "body"])
    small = type(train_set)(texts=train_set.texts[::8], labels=train_set.labels[::8], source="s")
    model, _ = train(train=small, dev=dev, extra=corrections)
    assert "民政" in model.classes  # a category the labelled data never had
    assert model.card["corrections"] == 6
    few = type(corrections)(texts=corrections.texts[:4], labels=corrections.labels[:4], source="4")
    model, _ = train(train=small, dev=dev, extra=few)
    assert "民政" not in model.classes and model.card["corrections_skipped"] == 4


def test_router_hotspots_replays_a_message_export_in_time_order(
    model_dir: Path, tmp_path: Path
) -> None:
    complaint = "诺亚山林小区的垃圾站每天臭气熏天，居民苦不堪言"
    rows = ["id,time,subject,detail"]
    # Out of order and in both of the export's time formats; three neighbours within an hour.
    rows += [
        "3,2019/7/8 10:48:00,垃圾站太臭,诺亚山林小区垃圾站臭气熏天，夏天根本不敢开窗",
        f"1,2019-07-08 10:38:00,诺亚山林小区垃圾站,{complaint}，请处理",
        f"2,2019/7/8 10:40:00,诺亚山林小区垃圾站,{complaint}，请尽快处理",
        "4,not a time,无效时间,这一行没有时间，不计入",
    ]
    export = tmp_path / "votes.csv"
    export.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "router",
            "hotspots",
            "--data",
            str(export),
            "--min-items",
            "3",
            "--model",
            str(model_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        "3 messages from 2019-07-08 to 2019-07-08: 1 near-duplicates, 1 hotspots" in result.output
    )
    assert "duplicate 2 of 1" in result.output
    assert "hotspot 诺亚山林小区" in result.output and "3 items" in result.output


def test_the_threshold_keeps_the_promise_on_the_raw_set_as_well_as_on_dev() -> None:
    full = read_labelled(DATA / "train.csv", text_columns=["subject", "body"])
    dev = read_labelled(DATA / "dev.csv", text_columns=["subject", "body"])
    small = type(full)(texts=full.texts[::8], labels=full.labels[::8], source="train/8")
    # Subjects alone stand in for text harder than dev's: the model is less sure of them.
    raw = type(dev)(
        texts=[text.partition("。")[0] for text in dev.texts],
        labels=dev.labels,
        source="subjects",
    )

    model, _ = train(train=small, dev=dev, raw=raw)

    thresholds = model.card["thresholds"]
    assert set(thresholds) == {"dev", "raw"}
    assert model.threshold == max(thresholds.values())
    assert model.card["raw_data"] == "subjects"
    held = evaluate(model, raw)
    assert held["auto_rate"] == 0 or held["auto_precision"] >= 0.975
    assert model.card["raw"]["macro_f1"] == held["macro_f1"]
