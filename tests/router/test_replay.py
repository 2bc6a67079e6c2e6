"""Replaying labelled items as corrections, and `router replay-corrections` end to end."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedbackloop.cli import app
from feedbackloop.devstack.config import StackSettings
from feedbackloop.runtime.sql import create_store
from services.router import service
from services.router.classifier import fit
from services.router.models import Base
from services.router.replay import replay, split
from services.router.training import Labelled, read_labelled

DATA = StackSettings().data_dir


def _labelled(n_per_label: int) -> Labelled:
    texts, labels = [], []
    for label in ("甲", "乙", "丙"):
        for n in range(n_per_label):
            texts.append(f"{label}{n}")
            labels.append(label)
    return Labelled(texts=texts, labels=labels, source="toy")


def test_the_split_is_per_category_disjoint_and_seeded() -> None:
    data = _labelled(10)
    stream, rest = split(data, share=0.3, seed=1)
    assert sorted(stream.texts + rest.texts) == sorted(data.texts)
    assert not set(stream.texts) & set(rest.texts)
    assert sorted(stream.labels) == ["丙"] * 3 + ["乙"] * 3 + ["甲"] * 3
    assert split(data, share=0.3, seed=1) == (stream, rest)
    assert split(data, share=0.3, seed=2)[0].texts != stream.texts
    with pytest.raises(ValueError):
        split(data, share=1.0, seed=1)


def test_triage_choices_and_returns_become_corrections_and_right_items_do_not(
    tmp_path: Path,
) -> None:
    topics = {
        "教育文体": "学校老师违规收取补课费",
        "交通运输": "公交车司机拒载乘客",
        "环境保护": "工厂夜间偷排废水污染河道",
    }
    texts = [f"{text}，第{n}次反映" for text in topics.values() for n in range(8)]
    labels = [label for label in topics for _ in range(8)]
    model = fit(texts, labels)
    model.threshold = 0.5
    stream = Labelled(
        texts=[
            topics["教育文体"],  # right and sure: no correction
            topics["交通运输"],  # sure but labelled otherwise: the department returns it
            "随便说说",  # unsure: an operator chooses at triage
        ],
        labels=["教育文体", "环境保护", "交通运输"],
        source="stream",
    )
    confidence = model.predict_proba(stream.texts).max(1)
    assert confidence[0] >= 0.5 and confidence[1] >= 0.5 and confidence[2] < 0.5
    sessions = create_store(f"sqlite:///{tmp_path / 'router.db'}", Base.metadata)

    replayed = replay(model=model, stream=stream, sessions=sessions)

    assert (replayed.triaged, replayed.returned, replayed.assigned_right) == (1, 1, 1)
    with sessions() as session:
        stored = service.list_corrections(session=session)
    assert [(c.text, c.category, c.source) for c in stored] == [
        (topics["交通运输"], "环境保护", "return"),
        ("随便说说", "交通运输", "triage"),
    ]


def test_router_replay_corrections_retrains_and_measures_on_the_rest(tmp_path: Path) -> None:
    train = read_labelled(DATA / "train.csv", text_columns=["subject", "body"])
    dev = read_labelled(DATA / "dev.csv", text_columns=["subject", "body"])
    source = tmp_path / "data"
    source.mkdir()
    for name, rows in (("train.csv", train), ("dev.csv", dev)):
        with (source / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["subject", "body", "label"])
            step = 8 if name == "train.csv" else 4
            for text, label in list(zip(rows.texts, rows.labels, strict=True))[::step]:
                subject, _, body = text.partition("。")
                writer.writerow([subject, body, label])
    # The stream: dev items the small model has not been trained on, as raw subject + detail.
    stream = tmp_path / "stream.csv"
    with stream.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject", "detail", "label"])
        for text, label in list(zip(dev.texts, dev.labels, strict=True))[1::4]:
            subject, _, body = text.partition("。")
            writer.writerow([subject, body, label])
    runner = CliRunner()
    model = tmp_path / "model"
    trained = runner.invoke(
        app, ["router", "train", "--data-dir", str(source), "--out", str(model), "--no-raw-dev"]
    )
    assert trained.exit_code == 0, trained.output

    result = runner.invoke(
        app,
        [
            "router",
            "replay-corrections",
            "--data",
            str(stream),
            "--data-dir",
            str(source),
            "--model",
            str(model),
            "--json",
        ],
    )

    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["stream"] + figures["rest"] == 216
    assert 0 < figures["triaged"] + figures["returned"] <= figures["stream"]
    for name in ("before", "after"):
        assert set(figures[name]) == {"macro_f1", "accuracy", "auto_rate", "auto_precision"}
        assert 0.5 < figures[name]["macro_f1"] <= 1
    assert "on the other 108 items" in result.output
