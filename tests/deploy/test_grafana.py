"""deploy/grafana: generated dashboards, provisioning, and the PromQL they run.

The PromQL is parsed by promtool (Debian's package `prometheus`, installed by `make test` through
scripts/ensure-debian-packages.sh); without it that test fails, as in test_prometheus.py.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.grafana import generate

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "feedbackloop.yml"
METRICS_DOC = ROOT / "docs" / "metrics.md"

#: PromQL's functions, aggregation operators and keywords (what may stand beside metric names).
_WORDS = """abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes
    clamp clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year
    days_in_month deg delta deriv exp floor histogram_quantile holt_winters hour idelta increase
    irate label_join label_replace last_over_time ln log10 log2 max_over_time min_over_time minute
    month pi predict_linear present_over_time quantile_over_time rad rate resets round scalar sgn
    sin sinh sort sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh time
    timestamp vector year
    sum min max avg group stddev stdvar count count_values bottomk topk quantile
    by without on ignoring group_left group_right bool offset and or unless atan2 inf nan"""
PROMQL_WORDS = frozenset(_WORDS.split())
#: Functions that may stand between a metric and `max without (instance)`: they work per series.
PER_SERIES = {"rate", "increase", "irate", "delta", "idelta", "deriv"}
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r'\s*([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*')
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def documented_metrics() -> dict[str, set[str]]:
    """Metric name -> its labels, from the table of docs/metrics.md (histograms' series too)."""
    metrics: dict[str, set[str]] = {}
    for line in METRICS_DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`feedbackloop_"):
            continue
        names = re.findall(r"`([a-z_]+)`", cells[0])
        prefix = "_".join(names[0].split("_")[:2])  # `_by_rule_total` is feedbackloop_routed_...
        labels = {label.strip() for label in cells[2].split(",") if label.strip()}
        for name in names:
            full = name if name.startswith("feedbackloop_") else prefix + name
            if cells[1] == "histogram":
                metrics.update({f"{full}_{s}": labels for s in ("count", "sum")})
                metrics[f"{full}_bucket"] = labels | {"le"}
            else:
                metrics[full] = labels
    assert len(metrics) > 20, "could not read the metric table of docs/metrics.md"
    return metrics


def dashboards() -> dict[str, dict[str, Any]]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((GRAFANA / "dashboards").glob("*.json"))
    }


def targets(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every target of a dashboard."""
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p["targets"]]


def datasource_refs(node: Any) -> list[Any]:
    if isinstance(node, dict):
        own = [node["datasource"]] if "datasource" in node else []
        return own + [ref for value in node.values() for ref in datasource_refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in datasource_refs(item)]
    return []


def provisioned_datasource() -> dict[str, Any]:
    sources = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"]
    assert len(sources) == 1
    return dict(sources[0])


def test_committed_json_is_what_the_generator_writes() -> None:
    rendered = generate.render()
    committed = {p.name for p in (GRAFANA / "dashboards").glob("*.json")}
    assert committed == set(rendered), "run: .venv/bin/python -m deploy.grafana.generate"
    for name, text in rendered.items():
        on_disk = (GRAFANA / "dashboards" / name).read_text(encoding="utf-8")
        assert on_disk == text, f"{name} was edited by hand or is stale: regenerate it"
    assert generate.render() == rendered, "generation is not deterministic"
    assert generate.main(["--check"]) == 0


def test_dashboards_have_unique_uids_and_titled_panels() -> None:
    boards = dashboards()
    uids = [board["uid"] for board in boards.values()]
    assert len(boards) == 3
    assert len(set(uids)) == len(uids), uids
    for name, board in boards.items():
        assert 0 < len(board["uid"]) <= 40 and re.fullmatch(r"[a-z0-9-]+", board["uid"]), name
        assert re.search(r"[\u4e00-\u9fff]", board["title"]), f"{name}: title not in Chinese"
        titles = [panel["title"] for panel in board["panels"]]
        assert len(set(titles)) == len(titles), f"{name}: panel titles repeat"
        ids = [panel["id"] for panel in board["panels"]]
        assert ids == list(range(1, len(ids) + 1)), f"{name}: panel ids are not 1..n"
        for panel in board["panels"]:
            where = f"{name} panel {panel['id']}"
            assert re.search(r"[\u4e00-\u9fff]", panel.get("title", "")), f"{where}: untitled"
            assert panel["targets"], f"{where}: no query"
            assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), where
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, where


def test_datasource_uid_matches_the_provisioned_one() -> None:
    source = provisioned_datasource()
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert source["uid"] == generate.DATASOURCE["uid"]
    for name, board in dashboards().items():
        refs = datasource_refs(board)
        assert refs, name
        for ref in refs:
            assert ref == {"type": "prometheus", "uid": source["uid"]}, f"{name}: {ref}"


def test_dashboard_provider_points_at_the_dashboards() -> None:
    (provider,) = yaml.safe_load(PROVIDERS.read_text(encoding="utf-8"))["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/")
    assert provider["allowUiUpdates"] is False  # the generator is the source of truth


def test_queries_use_only_documented_metrics_and_labels() -> None:
    metrics = documented_metrics()
    all_labels = set().union(*metrics.values()) | {"instance"}
    for name, board in dashboards().items():
        for title, expr in targets(board):
            where = f"{name} / {title}: {expr}"
            for metric, matchers in SELECTOR.findall(expr):
                assert metric in metrics, f"{where}: {metric} is not in docs/metrics.md"
                for matcher in filter(str.strip, matchers.split(",")):
                    match = MATCHER.fullmatch(matcher)
                    assert match, f"{where}: bad matcher {matcher!r}"
                    assert match.group(1) in metrics[metric], f"{where}: {metric} has no {match[1]}"
            rest = SELECTOR.sub(lambda m: m.group(1), expr)
            for grouping in GROUPING.findall(rest):
                labels = {label.strip() for label in grouping.split(",")}
                assert labels <= all_labels, f"{where}: unknown labels {labels - all_labels}"
            rest = re.sub(r"\[[^\]]*\]", "", STRING.sub("", GROUPING.sub(" ", rest)))
            words = set(IDENT.findall(rest))
            unknown = words - PROMQL_WORDS - set(metrics)
            assert not unknown, f"{where}: neither a documented metric nor PromQL: {unknown}"
            assert words & set(metrics), f"{where}: queries no metric"


def _max_without_instance_encloses(expr: str, position: int) -> bool:
    """True if, going outward from `position`, the first aggregation is `max without (instance)`
    with only per-series functions (rate, increase, ...) in between."""
    blanked = STRING.sub(lambda m: '"' + " " * (len(m.group()) - 2) + '"', expr)  # same offsets
    opened: list[int] = []
    for i, char in enumerate(blanked[:position]):
        if char == "(":
            opened.append(i)
        elif char == ")":
            opened.pop()
    for index in reversed(opened):
        head = blanked[:index].rstrip()
        if head.endswith("max without (instance)"):
            return True
        function = re.search(r"([a-z_]+)$", head)
        if not function or function.group(1) not in PER_SERIES:
            return False
    return False


def test_every_series_is_first_aggregated_with_max_without_instance() -> None:
    # Every metric of docs/metrics.md comes from the metrics service, whose replicas agree.
    metrics = documented_metrics()
    for uid, title, expr in generate.all_queries():
        for found in IDENT.finditer(expr):
            if found.group() in metrics:
                assert _max_without_instance_encloses(expr, found.start()), (
                    f"{uid} / {title}: {found.group()} is not first aggregated with "
                    f"`max without (instance)`: {expr}"
                )
        assert "sum without (instance)" not in expr


def test_the_department_dashboard_defines_and_uses_department() -> None:
    boards = dashboards()
    board = boards["department.json"]
    (variable,) = board["templating"]["list"]
    assert variable["name"] == "department" and variable["type"] == "query"
    assert variable["definition"] == "label_values(feedbackloop_tickets_open, department)"
    assert variable["query"]["query"] == variable["definition"]
    assert variable["datasource"] == generate.DATASOURCE
    for title, expr in targets(board):
        selectors = SELECTOR.findall(expr)
        assert selectors, f"{title}: {expr}"
        for metric, matchers in selectors:
            assert 'department="$department"' in matchers, f"{title}: {metric} is not filtered"
    for name, other in boards.items():
        if name != "department.json":
            assert not other["templating"]["list"], name
            assert all("$department" not in expr for _, expr in targets(other)), name


def test_all_queries_lists_every_target_with_variables_filled_in() -> None:
    queries = generate.all_queries(department='水务"局', rate_interval="2m")
    expected = [
        (board["uid"], title, expr)
        for board in dashboards().values()
        for title, expr in targets(board)
    ]
    assert sorted((u, t) for u, t, _ in queries) == sorted((u, t) for u, t, _ in expected)
    assert all("$" not in expr for _, _, expr in queries)
    assert any('department="水务\\"局"' in expr for _, _, expr in queries)
    assert any("[2m]" in expr for _, _, expr in queries)


@pytest.mark.parametrize("expr", [e for _, _, e in generate.all_queries()])
def test_promql_brackets_balance(expr: str) -> None:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for char in STRING.sub('""', expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs:
            assert stack and stack.pop() == pairs[char], expr
    assert not stack, expr


def test_promql_parses_with_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not on PATH: install Debian's package `prometheus`")
    rules = [
        {"record": f"grafana:query_{i}:check", "expr": expr}
        for i, (_, _, expr) in enumerate(generate.all_queries())
    ]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "grafana", "rules": rules}]}), "utf-8")
    result = subprocess.run(
        [promtool, "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout, result.stdout


def test_queries_count_two_replicas_once(tmp_path: Path) -> None:
    """promtool evaluates some panels on synthetic series of two metrics-service replicas that
    expose the same values (le written as prometheus_client does: "7200.0", "1.296e+06")."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not on PATH: install Debian's package `prometheus`")
    per_minute = [  # (metric, labels, increase a minute); 0: a gauge at 7
        ("feedbackloop_resolution_seconds_bucket", 'le="7200.0", priority="urgent", ', 1),
        ("feedbackloop_resolution_seconds_bucket", 'le="+Inf", priority="urgent", ', 2),
        ("feedbackloop_resolution_seconds_count", 'priority="urgent", ', 2),
        ("feedbackloop_resolution_seconds_bucket", 'le="1.296e+06", priority="normal", ', 3),
        ("feedbackloop_resolution_seconds_count", 'priority="normal", ', 4),
        ("feedbackloop_feedback_received_total", 'channel="web", ', 1),
        ("feedbackloop_tickets_open", 'priority="normal", ', 0),
        ("feedbackloop_survey_satisfied_total", "", 3),
        ("feedbackloop_survey_dissatisfied_total", "", 1),
        ("feedbackloop_routed_by_model_total", "", 3),
        ("feedbackloop_routed_by_rule_total", "", 1),
    ]
    series = [
        {
            "series": f'{metric}{{{labels}department="water", instance="{replica}:8004", job="m"}}',
            "values": f"0+{step}x1500" if step else "7x1500",
        }
        for metric, labels, step in per_minute
        for replica in ("a", "b")
    ]
    queries: dict[tuple[str, str], list[str]] = {}
    for uid, title, expr in generate.all_queries():
        queries.setdefault((uid.removeprefix("feedbackloop-"), title), []).append(expr)
    expected = [
        (("overview", "按时办结占比（近 1 日）"), 0, "{}", 0.5),  # urgent within 2 h
        (("overview", "按时办结占比（近 1 日）"), 2, "{}", 0.75),  # others within 15 days
        (("overview", "未办结工单"), 0, "{}", 7),
        (("overview", "近 24 小时超时"), 0, "{}", 0),  # no series yet: 0, not no data
        (("overview", "各渠道受理量（件/小时）"), 0, '{channel="web"}', 60),
        (("overview", "满意率趋势"), 0, "{}", 0.75),
        (("department", "未办结工单"), 0, "{}", 7),
        (("pipeline", "分派方式占比"), 0, "{}", 0.75),
        (("pipeline", "分派方式占比"), 2, "{}", 0),
    ]
    cases = [
        {
            "expr": queries[key][i],
            "eval_time": "1500m",
            "exp_samples": [{"labels": labels, "value": v}],
        }
        for key, i, labels, v in expected
    ]
    test = {"interval": "1m", "input_series": series, "promql_expr_test": cases}
    path = tmp_path / "dashboard_queries_test.yml"
    path.write_text(
        yaml.safe_dump({"rule_files": [], "tests": [test]}, allow_unicode=True), "utf-8"
    )
    result = subprocess.run(
        [promtool, "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
