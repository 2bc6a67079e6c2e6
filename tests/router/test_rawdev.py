"""The raw-text dev set: the repository's labels joined with the source's raw texts."""

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedbackloop.cli import app
from services.router import rawdev
from services.router.training import read_labelled

CATEGORIES = {
    "城乡建设",
    "环境保护",
    "交通运输",
    "教育文体",
    "劳动和社会保障",
    "商贸旅游",
    "卫生计生",
}


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data"
    data.mkdir()
    _write(
        data / "messages_unlabelled.csv",
        ["id", "time", "subject", "detail"],
        [["7", "2020/1/6 13:15:56", "酒吧噪音扰民", "\n\t\t每晚十点后大声播放音乐。\n\t"]],
    )
    _write(
        data / "messages_with_votes.csv",
        ["id", "time", "subject", "detail", "likes", "dislikes"],
        [["9", "2019/4/25 9:32:09", "出租车拒载", "司机拒载，态度恶劣", "3", "0"]],
    )
    labels = tmp_path / "labels.csv"
    _write(
        labels,
        ["file", "id", "label", "first", "second", "adjudicated", "doubt", "note"],
        [
            ["messages_unlabelled.csv", "7", "环境保护", "环境保护", "", "", "0", ""],
            ["messages_with_votes.csv", "9", "交通运输", "交通运输", "", "", "1", "alt 政法"],
        ],
    )
    return data, labels


def test_the_texts_are_joined_as_written(source: tuple[Path, Path]) -> None:
    data, labels = source
    items = rawdev.build(data, labels=labels)
    assert [(i.id, i.label, i.doubt) for i in items] == [("7", "环境保护", 0), ("9", "交通运输", 1)]
    # Raw means raw: the whitespace around the detail is the citizen's, kept for the model.
    assert items[0].detail == "\n\t\t每晚十点后大声播放音乐。\n\t"
    assert [i.id for i in rawdev.build(data, labels=labels, certain_only=True)] == ["7"]


def test_a_label_without_its_message_is_an_error(source: tuple[Path, Path]) -> None:
    data, labels = source
    with labels.open("a", encoding="utf-8") as handle:
        handle.write("messages_unlabelled.csv,8,城乡建设,城乡建设,,,0,\n")
    with pytest.raises(ValueError, match="no message 8"):
        rawdev.build(data, labels=labels)


def test_the_written_set_is_what_eval_reads(source: tuple[Path, Path], tmp_path: Path) -> None:
    data, _labels = source
    out = tmp_path / "raw-dev.csv"
    rawdev.write(rawdev.build(data, labels=_labels), out)
    labelled = read_labelled(out, text_columns=["subject", "detail"])
    assert labelled.labels == ["环境保护", "交通运输"]
    assert labelled.texts[1] == "出租车拒载。司机拒载，态度恶劣"


def test_the_command_refuses_a_folder_without_the_raw_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["router", "raw-dev", "--out", str(tmp_path / "x.csv"), "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert not (tmp_path / "x.csv").exists()


def test_the_repository_labels_are_complete_and_in_the_taxonomy() -> None:
    with rawdev.LABELS.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 800
    assert {r["label"] for r in rows} == CATEGORIES
    assert {r["doubt"] for r in rows} <= {"0", "1"}
    # No text is kept in the repository: a row names its message by file and id only.
    assert set(rows[0]) == {
        "file",
        "id",
        "label",
        "first",
        "second",
        "adjudicated",
        "doubt",
        "note",
    }
    assert len({(r["file"], r["id"]) for r in rows}) == len(rows)
