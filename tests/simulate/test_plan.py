"""The simulated day's plan: reproducible, shaped like a hotline's day, drawn from real data."""

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedbackloop.cli import app
from feedbackloop.devstack.config import StackSettings
from feedbackloop.simulate.plan import (
    ANSWERS,
    CHANNELS,
    HOURLY,
    Mix,
    load_texts,
    plan_day,
    reply_delays,
)

DATA = StackSettings().data_dir


def test_the_same_seed_gives_the_same_day_and_another_seed_another() -> None:
    first = plan_day(items=500, seed=3, data_dir=DATA)
    assert plan_day(items=500, seed=3, data_dir=DATA) == first
    assert plan_day(items=500, seed=4, data_dir=DATA) != first


def test_the_day_follows_the_channel_mix_the_curve_and_the_real_reply_delays() -> None:
    planned = plan_day(items=20_000, seed=1, data_dir=DATA)
    channels = Counter(item.channel for item in planned)
    assert abs(channels["hotline"] / 20_000 - 0.45) < 0.02
    assert abs(channels["wechat"] / 20_000 - 0.35) < 0.02
    assert abs(channels["web"] / 20_000 - 0.20) < 0.02
    hours = Counter(int(item.at // 3600) for item in planned)
    assert hours[10] > 10 * hours[3]  # mid-morning is busy, the small hours are quiet
    assert abs(sum(HOURLY) - 1) < 1e-9
    assert [item.at for item in planned] == sorted(item.at for item in planned)
    replies = set(reply_delays(DATA))
    assert all((item.resolve_after, item.reply) in replies for item in planned)
    assert all(0 <= item.accept_after <= min(item.resolve_after, 86400) for item in planned)
    texts = set(load_texts(DATA))
    assert all((item.title, item.text) in texts for item in planned[:500])
    assert len({item.key for item in planned}) == 20_000


def test_a_mix_is_parsed_and_a_bad_one_is_refused_with_the_reason() -> None:
    mix = Mix.parse("hotline=1,wechat=1,web=0", allowed=CHANNELS)
    assert mix.shares == {"hotline": 1.0, "wechat": 1.0, "web": 0.0}
    with pytest.raises(ValueError, match="unknown name 'fax'"):
        Mix.parse("fax=1", allowed=CHANNELS)
    with pytest.raises(ValueError, match="positive sum"):
        Mix.parse("satisfied=0", allowed=ANSWERS)


def test_the_command_writes_the_ground_truth_without_a_stack(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--items",
            "50",
            "--seed",
            "9",
            "--truth",
            str(truth),
            "--survey",
            "satisfied=1",
            "--channels",
            "web=1",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in truth.read_text().splitlines()]
    assert len(rows) == 50
    assert {row["channel"] for row in rows} == {"web"}
    assert {row["survey"] for row in rows} == {"satisfied"}
    refused = CliRunner().invoke(app, ["simulate", "--channels", "fax=1"])
    assert refused.exit_code == 2 and "fax" in refused.output
