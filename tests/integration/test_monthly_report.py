"""Monthly scoring on the real stack: `report --month` from the log agrees with the service,
and so does the public report it writes with --pdf."""

import csv
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from feedbackloop.cli.public_pdf import percent
from feedbackloop.devstack.credentials import staff_headers
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.processes import Stack
from services.metrics.rates import month_of
from tests.cli.test_public_pdf import pages_text as pdf_text
from tests.integration.conftest import wait_for
from tests.integration.test_followup import API, answer_survey, submit_form

pytestmark = pytest.mark.integration


def _water(scores: list[dict[str, Any]]) -> dict[str, Any]:
    return next((row for row in scores if row["department"] == "water"), {})


def test_a_month_s_scores_from_the_log_match_the_league_table_s_month_view(
    kafka: LocalKafka, stack: Stack, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    followup, metrics = stack.services["followup"].url, stack.services["metrics"].url
    month = month_of(datetime.now(UTC))

    def scores() -> list[dict[str, Any]]:
        reply = httpx.get(f"{metrics}/api/v1/scores", params={"month": month}, timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()  # type: ignore[no-any-return]

    wait_for(
        lambda: httpx.get(f"{metrics}/api/v1/scores", timeout=10).status_code == 200,
        what="metrics to have read the log",
    )
    before = _water(scores())
    store_url = f"sqlite:///{stack.settings.state_dir.resolve() / 'followup.db'}"
    water = staff_headers(
        database_url=store_url, name="市水务局", role="department", department="water"
    )
    ticket_no = submit_form(stack.services["intake"].url, "幸福小区5栋水管爆裂，家里停水了。")
    path = f"{followup}{API}/tickets/{ticket_no}"
    wait_for(lambda: httpx.get(path, headers=water).is_success, what="the ticket")
    for action, body in (("accept", None), ("resolve", {"text": "已抢修完毕，恢复供水"})):
        reply = httpx.post(f"{path}/{action}", headers=water, json=body, timeout=10)
        assert reply.status_code == 200, reply.text
    answer_survey(followup, store_url, ticket_no, "solved", "satisfied")
    now = wait_for(
        lambda: (
            (row := _water(scores())).get("surveys_answered", 0)
            == before.get("surveys_answered", 0) + 1
            and row
        ),
        what="the survey in the month's scores",
    )
    assert now["assignments_due"] == before.get("assignments_due", 0) + 1
    assert now["name"] == "市水务局"

    out = tmp_path / "reports"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "feedbackloop",
            "report",
            "--month",
            month,
            "--out",
            str(out),
            "--bootstrap",
            kafka.bootstrap,
            "--pdf",
            str(out / f"public-{month}.pdf"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    served = scores()
    with (out / f"scores-{month}.csv").open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [(r["名次"], r["单位代码"], float(r["得分"])) for r in table] == [
        (str(r["rank"]), r["department"], r["score"]) for r in served
    ]
    mine = next(r for r in table if r["单位代码"] == "water")
    assert int(mine["已回访"]) == _water(served)["surveys_answered"]
    sheet = load_workbook(out / f"scores-{month}.xlsx").worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("名次", "单位代码", "承办单位")
    assert [(row[1], row[12]) for row in rows[1:]] == [
        (r["department"], r["score"]) for r in served
    ]
    chart = (out / f"scores-{month}.png").read_bytes()
    assert chart.startswith(b"\x89PNG") and len(chart) > 10_000
    # The public report (每月公开报告) of the same fold: the water unit's line is the league
    # table's, and the month's items include the one sent here.
    text = "\n".join(pdf_text(out / f"public-{month}.pdf"))
    row = _water(served)
    rates = [percent(row[f"{rate}_rate"]) for rate in ("response", "resolution", "satisfaction")]
    late = [str(row["late_acceptances"]), str(row["late_completions"])]
    line = " ".join([str(row["rank"]), "市水务局", *rates, *late, f"{row['score']:.2f}"])
    assert line in [" ".join(part.split()) for part in text.splitlines()], text
    received = re.search(r"本月共受理诉求 (\d+) 件", text)
    answered = re.search(r"有效回访 (\d+) 次", text)
    assert received and int(received.group(1)) >= 1, text
    assert answered and int(answered.group(1)) >= 1, text
    assert "网站" in text and ticket_no not in text
    # The page shows the same month.
    page = httpx.get(f"{metrics}/scores", params={"month": month}, timeout=10)
    assert page.status_code == 200 and 'data-department="water"' in page.text
