"""`feedbackloop report`: the 三率 and SLA figures per department, in the terminal."""

from collections import defaultdict

import httpx
import typer
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

console = Console()

#: (column title, metric, how to show it)
COLUMNS = [
    ("派单量 routed", "feedbackloop_feedback_routed_total", "count"),
    ("在办 open", "feedbackloop_tickets_open", "count"),
    ("超期 overdue", "feedbackloop_tickets_overdue", "count"),
    ("超时 breaches", "feedbackloop_sla_breaches_total", "count"),
    ("响应率 response", "feedbackloop_response_rate", "ratio"),
    ("解决率 resolution", "feedbackloop_resolution_rate", "ratio"),
    ("满意率 satisfaction", "feedbackloop_satisfaction_rate", "ratio"),
]


def department_figures(text: str) -> dict[str, dict[str, float]]:
    """Per department, each column's metric summed over its other labels."""
    figures: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    wanted = {metric for _, metric, _ in COLUMNS}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted and "department" in sample.labels:
                figures[sample.labels["department"]][sample.name] += sample.value
    return figures


def report(
    metrics_url: str = typer.Option("http://127.0.0.1:8004", help="The metrics service"),
) -> None:
    """Print the 三率 (响应率, 解决率, 满意率) and SLA figures per department."""
    try:
        text = httpx.get(f"{metrics_url.rstrip('/')}/metrics", timeout=10).text
    except httpx.HTTPError as exc:
        raise typer.BadParameter(f"cannot read {metrics_url}/metrics: {exc}") from None
    figures = department_figures(text)
    table = Table("部门 department", *(title for title, _, _ in COLUMNS), title="三率与时限")
    for department in sorted(figures):
        row = figures[department]
        cells = []
        for _, metric, kind in COLUMNS:
            present = metric in row
            if kind == "ratio":
                cells.append(f"{row[metric]:.1%}" if present else "—")
            else:
                cells.append(f"{row[metric]:.0f}" if present else "0")
        table.add_row(department, *cells)
    console.print(table)
