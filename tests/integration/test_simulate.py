"""`feedbackloop simulate` against the running stack: the day replayed, then acted out.

Departments accept and resolve with the plan's (real) delays, sped up; the callers' planned
survey answers are recorded (hotline callbacks); each ticket ends where its plan says.
"""

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from feedbackloop.devstack.processes import Stack
from feedbackloop.simulate.plan import plan_day
from services.followup import auth
from services.followup.auth import Role
from services.followup.database import open_store
from services.router.config import DEFAULT_RULES
from services.router.rules import load_rule_table

pytestmark = pytest.mark.integration

ITEMS, SEED = 30, 5


def test_a_simulated_day_is_replayed_and_acted_out_as_planned(stack: Stack, tmp_path: Path) -> None:
    table = load_rule_table(DEFAULT_RULES)
    store = f"sqlite:///{stack.settings.state_dir.resolve() / 'followup.db'}"
    now = datetime.now(UTC)
    with open_store(store).begin() as session:
        clerks = {
            code: auth.create_credential(
                session=session,
                name=f"模拟{name}",
                role=Role.DEPARTMENT,
                department_code=code,
                now=now,
            )
            for code, name in table.departments.items()
            if code != table.default_department
        }
        operator = auth.create_credential(
            session=session, name="模拟话务员", role=Role.OPERATOR, department_code=None, now=now
        )
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"operator": operator, "departments": clerks}))
    planned = plan_day(items=ITEMS, seed=SEED, data_dir=stack.settings.data_dir)
    # The slowest real reply takes about 15 s of the test's time.
    speed = max(item.resolve_after for item in planned) / 15
    truth = tmp_path / "truth.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "feedbackloop",
            "simulate",
            "--items",
            str(ITEMS),
            "--seed",
            str(SEED),
            "--truth",
            str(truth),
            "--intake",
            stack.services["intake"].url,
            "--followup",
            stack.services["followup"].url,
            "--credentials",
            str(credentials),
            "--act-speed",
            str(speed),
            "--hotline-token",
            stack.hotline_token,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [json.loads(line) for line in truth.read_text().splitlines()]
    assert [row["status"] for row in rows] == ["accepted"] * ITEMS

    headers = {"Authorization": f"Bearer {operator}"}
    followup = stack.services["followup"].url
    ended = {}
    for row in rows:
        ticket = httpx.get(
            f"{followup}/api/v1/workbench/tickets/{row['ticket_no']}", headers=headers, timeout=10
        ).json()
        ended[row["ticket_no"]] = (ticket["department_code"], ticket["state"])
    for row in rows:
        department, state = ended[row["ticket_no"]]
        if department == table.default_department:
            expected = "triage"  # waits for an operator; no clerk works it
        elif row["survey"] == "none" or row["channel"] != "hotline":
            # The survey is open: the citizen has not answered, or answers through their own
            # link (operators record answers for hotline callbacks only).
            expected = "resolved"
        elif row["survey"] == "dissatisfied":
            expected = "reopened"
        else:
            expected = "closed"
        assert state == expected, (row["n"], row["survey"], department)
    assert "resolved" in done.stdout
