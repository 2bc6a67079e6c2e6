"""deploy/prometheus: promtool checks the config and rules and runs the rules' unit tests.

promtool comes from Debian's package `prometheus` (`make test` installs it through
scripts/ensure-debian-packages.sh). Without it these tests fail: they never skip.
"""

import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
CONFIG = PROMETHEUS / "prometheus.yml"
ALERTS = PROMETHEUS / "alerts.yml"
ALERTS_TEST = PROMETHEUS / "alerts_test.yml"

SERVICES = {"intake": 8001, "router": 8002, "followup": 8003, "metrics": 8004, "signals": 8005}


def _promtool() -> str:
    """promtool's path; a missing promtool fails the test (it is part of `make test`'s setup)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not on PATH: install Debian's package `prometheus` "
            "(scripts/ensure-debian-packages.sh promtool=prometheus, or apt-get install prometheus)"
        )
    return path


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def _alert_rules() -> list[dict[str, Any]]:
    return [rule for group in _load(ALERTS)["groups"] for rule in group["rules"] if "alert" in rule]


@pytest.mark.parametrize(
    "args",
    [
        ["check", "config", "deploy/prometheus/prometheus.yml"],
        ["check", "rules", "deploy/prometheus/alerts.yml"],
        ["test", "rules", "deploy/prometheus/alerts_test.yml"],
    ],
    ids=["check-config", "check-rules", "test-rules"],
)
def test_promtool(args: list[str]) -> None:
    result = subprocess.run(
        [_promtool(), *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    output = f"$ promtool {' '.join(args)}\n{result.stdout}{result.stderr}"
    if result.returncode != 0:
        print(output)
    assert result.returncode == 0, output


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    alerts = {rule["alert"] for rule in _alert_rules()}
    assert alerts, "alerts.yml defines no alert"
    tests = _load(ALERTS_TEST)
    assert tests["rule_files"] == ["alerts.yml"]

    firing: dict[str, int] = defaultdict(int)
    quiet: dict[str, int] = defaultdict(int)
    for group in tests["tests"]:
        for case in group.get("alert_rule_test") or []:
            name = case["alertname"]
            # promtool passes a quiet case for an alert that does not exist: catch typos here.
            assert name in alerts, f"alerts_test.yml tests {name!r}, which alerts.yml lacks"
            if case.get("exp_alerts"):
                firing[name] += 1
            elif "exp_alerts" in case and case["exp_alerts"] == []:
                quiet[name] += 1
    untested = {
        name: {"firing": firing[name], "quiet": quiet[name]}
        for name in sorted(alerts)
        if not firing[name] or not quiet[name]
    }
    assert not untested, f"alerts without a firing and a quiet (exp_alerts: []) case: {untested}"


def test_alert_rules_follow_the_conventions() -> None:
    for rule in _alert_rules():
        name = rule["alert"]
        assert re.fullmatch(r"(?:[A-Z][a-z0-9]+)+", name), f"{name} is not English CamelCase"
        assert rule.get("labels", {}).get("severity") in {"critical", "warning", "info"}, name
        annotations = rule.get("annotations", {})
        for key in ("summary", "description"):
            assert re.search(r"[\u4e00-\u9fff]", annotations.get(key, "")), (
                f"{name}: the {key} annotation is not in Chinese"
            )
        # Replicas of the metrics service expose identical values: never add them up.
        assert "max without (instance)" in rule["expr"], f"{name} does not aggregate with max"
        assert "sum without (instance)" not in rule["expr"], name


def test_scrape_config_covers_the_four_services() -> None:
    config = _load(CONFIG)
    assert config["global"]["scrape_interval"] == "15s"
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == set(SERVICES)
    for name, port in SERVICES.items():
        job = jobs[name]
        assert job.get("metrics_path", "/metrics") == "/metrics"
        targets = [t for static in job["static_configs"] for t in static["targets"]]
        assert targets == [f"127.0.0.1:{port}"], name
