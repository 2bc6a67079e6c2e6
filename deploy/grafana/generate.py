"""Grafana dashboards as code: writes deploy/grafana/dashboards/*.json (classic JSON model).

Regenerate after any change here (tests/deploy/test_grafana.py fails on hand-edited JSON):

    .venv/bin/python -m deploy.grafana.generate          # write the files
    .venv/bin/python -m deploy.grafana.generate --check  # exit 1 if a file is stale

Only metrics of docs/metrics.md are queried. Every replica of the metrics service folds the whole
log and exposes the same values, so each selector goes through `max without (instance)` (after
rate/increase, before any other aggregation): never `sum` across replicas.
"""

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.utils import floatToGoString

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"
#: Must equal the uid in provisioning/datasources/prometheus.yml.
DATASOURCE = {"type": "prometheus", "uid": "feedbackloop-prometheus"}
TAG = "feedbackloop"
RI = "$__rate_interval"
DEPT = 'department="$department"'
Steps = tuple[tuple[str, float | None], ...]
GREEN: Steps = (("green", None),)
ALARM: Steps = (("green", None), ("red", 1.0))  # anything above zero needs a look
RATES: Steps = (("red", None), ("yellow", 0.8), ("green", 0.9))  # 三率 and on-time shares


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str  # timeseries | stat | gauge | bargauge
    queries: tuple[tuple[str, str], ...]  # (PromQL, legend)
    width: int = 12
    height: int = 8
    unit: str = "short"
    description: str = ""
    thresholds: Steps = GREEN
    stacking: str = "none"  # timeseries: none | normal
    bars: bool = False


@dataclass(frozen=True)
class Dashboard:
    uid: str
    slug: str  # file name
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[dict[str, Any], ...] = ()


def stat(title: str, expr: str, width: int = 4, **kw: Any) -> Panel:
    return Panel(title, "stat", ((expr, ""),), width, 4, **kw)


def ts(title: str, *queries: tuple[str, str], **kw: Any) -> Panel:
    return Panel(title, "timeseries", queries, **kw)


# --- PromQL --------------------------------------------------------------------------------------


def sel(*matchers: str) -> str:
    return "{" + ", ".join(matchers) + "}" if matchers else ""


def mx(expr: str) -> str:
    """One value per series across the metrics service's replicas."""
    return f"max without (instance) ({expr})"


def rate(metric: str, *matchers: str, window: str = RI) -> str:
    return mx(f"rate({metric}{sel(*matchers)}[{window}])")


def hourly(metric: str, *matchers: str, by: str = "") -> str:
    """Events per hour, summed (by labels if given)."""
    expr = f"sum{by} ({rate(metric, *matchers)}) * 3600"
    return expr if by else nz(expr)


def nz(expr: str) -> str:
    """0, not no data, while a labelled counter has no series yet."""
    return f"({expr} or vector(0))"


def total(metric: str, *matchers: str, window: str = "1d") -> str:
    """Events in the window."""
    return nz(f"sum ({mx(f'increase({metric}{sel(*matchers)}[{window}])')})")


def share(part: list[str], whole: list[str]) -> str:
    return f"({' + '.join(part)}) / ({' + '.join(whole)})"


def level(metric: str, *matchers: str, by: str = "") -> str:
    """A gauge's value. Ratios (`_rate`) are neither added up nor 0 when missing; counts are."""
    if metric.endswith("_rate"):
        return f"max{by} ({mx(metric + sel(*matchers))})"
    expr = f"sum{by} ({mx(metric + sel(*matchers))})"
    return expr if by else nz(expr)


def le_is(seconds: int) -> str:
    """Matcher of one bucket edge. prometheus_client writes le="604800.0", le="1.296e+06", and
    Prometheus stores that; docs/metrics.md's example has le="604800", which matches nothing
    there. Accept both; [.] and [+] keep the regex free of backslashes."""
    forms = sorted({str(seconds), floatToGoString(seconds)})
    return 'le=~"' + "|".join(f.replace(".", "[.]").replace("+", "[+]") for f in forms) + '"'


def within(metric: str, seconds: int, *matchers: str) -> str:
    """Share of the last day's observations at most `seconds` (an SLA bucket edge); NaN, not no
    data, when there were none."""
    bucket = rate(f"{metric}_bucket", *matchers, le_is(seconds), window="1d")
    count = rate(f"{metric}_count", *matchers, window="1d")
    return f"{nz(f'sum ({bucket})')} / {nz(f'sum ({count})')}"


def quantile(q: float, metric: str, *matchers: str, window: str = RI) -> str:
    buckets = rate(f"{metric}_bucket", *matchers, window=window)
    return f"histogram_quantile({q}, sum by (le) ({buckets}))"


def direct_share(by: str = "") -> str:
    """直接答复率 over the last day: direct answers / consultations (no data without any)."""
    answered = f"sum{by} ({mx('increase(feedbackloop_direct_answers_total[1d])')})"
    asked = f"sum{by} ({mx('increase(feedbackloop_consultations_total[1d])')})"
    return f"{answered} / {asked}"


def satisfied_share(*matchers: str) -> str:
    """满意率 of the callback surveys answered in the last day (no response excluded)."""
    answers = [total(f"feedbackloop_survey_{o}_total", *matchers) for o, _ in SURVEY]
    return share(answers[:2], answers)


# --- Dashboards ----------------------------------------------------------------------------------

OPEN, OVERDUE = "feedbackloop_tickets_open", "feedbackloop_tickets_overdue"
TRIAGE, DLQ = "feedbackloop_triage_backlog", "feedbackloop_dead_letters_total"
RECEIVED, ROUTED = "feedbackloop_feedback_received_total", "feedbackloop_feedback_routed_total"
WARNINGS, BREACHES = "feedbackloop_sla_warnings_total", "feedbackloop_sla_breaches_total"
FIRST, RESOLVED = "feedbackloop_first_response_seconds", "feedbackloop_resolution_seconds"
LATENCY, LAG = "feedbackloop_pipeline_latency_seconds", "feedbackloop_consumer_lag_records"
METHODS = (("by_model", "模型"), ("by_rule", "规则"), ("manually", "人工"), ("to_triage", "转人工"))
SURVEY = (("satisfied", "满意"), ("basically_satisfied", "基本满意"), ("dissatisfied", "不满意"))
SOLVED = (("solved", "已解决"), ("partly_solved", "部分解决"), ("not_solved", "未解决"))
THREE_RATES = (("response", "响应率"), ("resolution", "解决率"), ("satisfaction", "满意率"))
LIMITS = ((7200, "2 小时内"), (86400, "24 小时内"), (604800, "7 日内"), (1296000, "15 日内"))
ON_TIME = "按日历时长计；以工作日计的时限（一般 7 个、复杂 15 个工作日）以超时次数为准。"
BY_DEPT, BY_PRIO = " by (department)", " by (priority)"
DIRECT = "咨询类诉求中，受理时即依据知识库文章直接答复并办结的比例（坐席与微信公众号）。"
STACK = "normal"
LAG_STEPS: Steps = (("green", None), ("yellow", 100.0), ("red", 1000.0))
LATENCY_STEPS: Steps = (("green", None), ("yellow", 5.0), ("red", 60.0))


def overview() -> Dashboard:
    hotspots = mx("increase(feedbackloop_hotspots_total[1d])")
    surges = mx("increase(feedbackloop_surges_total[1d])")
    return Dashboard(
        "feedbackloop-overview", "overview", "市民诉求闭环 · 总览",
        "受理、积压、时限与三率的全市总览。",
        panels=(
            stat("近 24 小时受理量", total(RECEIVED)),
            stat("未办结工单", level(OPEN)),
            stat("超期未办结", level(OVERDUE), thresholds=ALARM),
            stat("待人工分派", level(TRIAGE)),
            stat("近 24 小时超时", total(BREACHES), thresholds=ALARM),
            stat("近 24 小时热点", total("feedbackloop_hotspots_total"), thresholds=ALARM),
            ts("各渠道受理量（件/小时）", (hourly(RECEIVED, by=" by (channel)"), "{{channel}}"),
               stacking=STACK),
            ts("积压趋势", (level(OPEN), "未办结"), (level(OVERDUE), "超期未办结"),
               (level(TRIAGE), "待人工分派")),
            ts("按时办结占比（近 1 日）",
               (within(RESOLVED, 7200, 'priority="urgent"'), "紧急 · 2 小时内"),
               (within(RESOLVED, 604800, 'priority!="urgent"'), "其他 · 7 日内"),
               (within(RESOLVED, 1296000, 'priority!="urgent"'), "其他 · 15 日内"),
               unit="percentunit", description=ON_TIME, thresholds=RATES),
            ts("催办与超时（次/小时）", (hourly(WARNINGS), "催办"), (hourly(BREACHES), "超时"),
               bars=True),
            *(Panel(f"各部门{name}", "bargauge",
                    ((level(f"feedbackloop_{m}_rate", by=BY_DEPT), "{{department}}"),),
                    8, unit="percentunit", thresholds=RATES)
              for m, name in THREE_RATES),
            ts("满意率趋势", (satisfied_share(), "全市（近 1 日回访）"),
               (level("feedbackloop_satisfaction_rate", by=BY_DEPT), "{{department}}"),
               unit="percentunit", thresholds=RATES),
            Panel("热点类别（近 24 小时）", "bargauge",
                  ((f"sort_desc(sum by (category) ({hotspots}))", "{{category}}"),),
                  description="同类诉求短时间内集中出现时触发的热点告警次数。"),
            Panel("舆情预警（近 24 小时）", "bargauge",
                  ((f"sort_desc(sum by (dimension) ({surges}))", "{{dimension}}"),),
                  description="某类别、区域或地点近 1 小时诉求量远高于以往同期时的预警次数，"
                  "详见工作台“舆情预警”页。"),
            ts("直接答复率（近 1 日）", (direct_share(), "全部渠道"),
               (direct_share(" by (channel)"), "{{channel}}"),
               unit="percentunit", description=DIRECT, thresholds=RATES),
        ),
    )  # fmt: skip


def department() -> Dashboard:
    values = "label_values(feedbackloop_tickets_open, department)"
    query = {"qryType": 1, "query": values, "refId": "PrometheusVariableQueryEditor-VariableQuery"}
    variable = {
        "current": {}, "datasource": DATASOURCE, "definition": values, "hide": 0,
        "includeAll": False, "label": "部门", "multi": False, "name": "department", "options": [],
        "query": query, "refresh": 2, "regex": "", "skipUrlSync": False, "sort": 1, "type": "query",
    }  # fmt: skip
    durations = ((FIRST, "签收"), (RESOLVED, "办结"))
    surveys = (*SURVEY, ("no_response", "未回应"))
    return Dashboard(
        "feedbackloop-department", "department", "市民诉求闭环 · 部门详情",
        "单个部门的三率、积压、时限与回访。",
        variables=(variable,),
        panels=(
            *(Panel(name, "gauge", ((level(f"feedbackloop_{m}_rate", DEPT), ""),), 8, 6,
                    "percentunit", thresholds=RATES)
              for m, name in THREE_RATES),
            stat("未办结工单", level(OPEN, DEPT), 6),
            stat("超期未办结", level(OVERDUE, DEPT), 6, thresholds=ALARM),
            stat("近 24 小时派单", total(ROUTED, DEPT), 6),
            stat("近 24 小时超时", total(BREACHES, DEPT), 6, thresholds=ALARM),
            ts("未办结工单（按优先级）", (level(OPEN, DEPT, by=BY_PRIO), "{{priority}}"),
               stacking=STACK),
            ts("派单量（按优先级，件/小时）", (hourly(ROUTED, DEPT, by=BY_PRIO), "{{priority}}"),
               stacking=STACK),
            ts("签收与办结时长（近 1 日）",
               *((quantile(p, m, DEPT, window="1d"), f"{name} P{round(p * 100)}")
                 for m, name in durations for p in (0.5, 0.9)),
               unit="s"),
            ts("办结时长分档占比（近 1 日）",
               *((within(RESOLVED, s, DEPT), name) for s, name in LIMITS),
               unit="percentunit", description=ON_TIME),
            ts("催办与超时（次/小时）",
               (hourly(WARNINGS, DEPT), "催办"), (hourly(BREACHES, DEPT), "超时"), bars=True),
            ts("分派方式（次/小时）",
               *((hourly(f"feedbackloop_routed_{m}_total", DEPT), name) for m, name in METHODS),
               stacking=STACK),
            ts("回访结果（近 1 日）",
               *((total(f"feedbackloop_survey_{o}_total", DEPT), name) for o, name in surveys),
               stacking=STACK),
            ts("问题解决情况（近 1 日）",
               *((total(f"feedbackloop_survey_{o}_total", DEPT), name) for o, name in SOLVED),
               stacking=STACK),
        ),
    )  # fmt: skip


def pipeline() -> Dashboard:
    methods = [nz(f"sum ({rate(f'feedbackloop_routed_{m}_total')})") for m, _ in METHODS]
    mix = [(share([part], methods), name) for part, (_, name) in zip(methods, METHODS, strict=True)]
    return Dashboard(
        "feedbackloop-pipeline", "pipeline", "市民诉求闭环 · 链路健康",
        "受理到派单的时延、消息积压、死信与分派方式。",
        panels=(
            stat("消息积压（条）", level(LAG), 6, thresholds=LAG_STEPS),
            stat("近 1 小时死信", total(DLQ, window="1h"), 6, thresholds=ALARM),
            stat("受理→派单时延 P95", quantile(0.95, LATENCY), 6, unit="s",
                 thresholds=LATENCY_STEPS),
            stat("待人工分派", level(TRIAGE), 6),
            ts("受理→派单时延",
               *((quantile(p, LATENCY), f"P{round(p * 100)}") for p in (0.5, 0.9, 0.99)),
               unit="s", description="受理服务接收诉求到分派服务将其放入部门队列的时长。"),
            ts("吞吐（件/小时）", (hourly(RECEIVED), "受理"),
               (hourly(ROUTED), "派单（含退单重派）"),
               (hourly("feedbackloop_routed_to_triage_total"), "转人工分派")),
            ts("消息积压趋势（条）", (level(LAG), "积压"),
               description="流水线主题上尚未被各服务消费组处理的消息数。"),
            ts("死信（条/小时）", (hourly(DLQ), "死信"), bars=True, thresholds=ALARM),
            ts("分派方式占比", *mix, width=24, unit="percentunit", stacking=STACK),
        ),
    )  # fmt: skip


DASHBOARDS = (overview, department, pipeline)


# --- JSON model ----------------------------------------------------------------------------------

REDUCE = {"calcs": ["lastNotNull"], "fields": "", "values": False}
OPTIONS: dict[str, dict[str, Any]] = {
    "timeseries": {
        "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    },
    "stat": {
        "colorMode": "value",
        "graphMode": "none",
        "reduceOptions": REDUCE,
        "textMode": "auto",
    },
    "gauge": {"reduceOptions": REDUCE, "showThresholdLabels": False, "showThresholdMarkers": True},
    "bargauge": {"displayMode": "gradient", "orientation": "horizontal", "reduceOptions": REDUCE},
}


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    steps = [{"color": color, "value": value} for color, value in panel.thresholds]
    defaults: dict[str, Any] = {
        "color": {"mode": "palette-classic" if panel.kind == "timeseries" else "thresholds"},
        "thresholds": {"mode": "absolute", "steps": steps},
        "unit": panel.unit,
    }
    if panel.unit == "percentunit":
        defaults.update(min=0, max=1)
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "bars" if panel.bars else "line",
            "fillOpacity": 60 if panel.bars or panel.stacking != "none" else 10,
            "lineWidth": 1,
            "showPoints": "never",
            "stacking": {"group": "A", "mode": panel.stacking},
        }
    instant = panel.kind != "timeseries"  # stat, gauge and bargauge show the latest value
    targets = [
        {
            "datasource": DATASOURCE,
            "expr": expr,
            "instant": instant,
            "legendFormat": legend or "__auto",
            "range": not instant,
            "refId": chr(ord("A") + i),
        }
        for i, (expr, legend) in enumerate(panel.queries)
    ]
    return {
        "datasource": DATASOURCE,
        "description": panel.description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "id": panel_id,
        "options": OPTIONS[panel.kind],
        "targets": targets,
        "title": panel.title,
        "type": panel.kind,
    }


def build(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard's JSON model; panels flow left to right in rows of 24, ids count from 1."""
    panels, x, y, row_height = [], 0, 0, 0
    for panel_id, panel in enumerate(dashboard.panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        panels.append(_panel(panel, panel_id, x, y))
        x, row_height = x + panel.width, max(row_height, panel.height)
    links = {"asDropdown": False, "includeVars": False, "keepTime": True, "tags": [TAG]}
    return {
        "annotations": {"list": []}, "description": dashboard.description, "editable": False,
        "graphTooltip": 1, "id": None, "panels": panels, "refresh": "1m", "schemaVersion": 39,
        "links": [{**links, "title": "市民诉求闭环", "type": "dashboards"}], "tags": [TAG],
        "templating": {"list": list(dashboard.variables)}, "time": {"from": "now-24h", "to": "now"},
        "timezone": "browser", "title": dashboard.title, "uid": dashboard.uid, "version": 1,
    }  # fmt: skip


def render() -> dict[str, str]:
    """File name -> JSON text, byte for byte what is committed."""
    return {
        f"{d.slug}.json": json.dumps(build(d), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        for d in (make() for make in DASHBOARDS)
    }


def all_queries(department: str = "water", rate_interval: str = "5m") -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL) of every target, template variables filled in."""
    value = department.replace("\\", "\\\\").replace('"', '\\"')
    return [
        (d.uid, panel.title, expr.replace("$department", value).replace(RI, rate_interval))
        for d in (make() for make in DASHBOARDS)
        for panel in d.panels
        for expr, _ in panel.queries
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write deploy/grafana/dashboards/*.json.")
    parser.add_argument("--check", action="store_true", help="only report stale files (exit 1)")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = DASHBOARDS_DIR / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(name)
        if not args.check:
            DASHBOARDS_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    sys.stdout.write(f"{'stale' if args.check else 'written'}: {', '.join(stale) or 'none'}\n")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
