"""`feedbackloop report`: the 三率 and SLA figures per department; with --month, the scoring."""

from collections import defaultdict
from pathlib import Path
from typing import Any

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
    png: Path | None = typer.Option(None, help="Also draw the 三率 per department into this PNG"),
    month: str | None = typer.Option(
        None, help="Score this Beijing calendar month (YYYY-MM) from the log instead."
    ),
    out: Path = typer.Option(
        Path(".var/reports"), file_okay=False, help="Where --month writes its CSV, XLSX and PNG."
    ),
    weights: Path | None = typer.Option(
        None, dir_okay=False, help="Scoring weights [FEEDBACKLOOP_METRICS_SCORING_PATH]."
    ),
    bootstrap: str | None = typer.Option(None, help="Kafka bootstrap [the local broker]."),
    pdf: Path | None = typer.Option(
        None, dir_okay=False, help="With --month: also write the public report (每月公开报告)."
    ),
) -> None:
    """Print the 三率 and SLA figures per department, or score a month (考核) with --month."""
    if month is not None:
        monthly_report(month, out=out, weights_path=weights, bootstrap=bootstrap, pdf=pdf)
        return
    if pdf is not None:
        raise typer.BadParameter("公开报告按月生成，请同时给出 --month", param_hint="--pdf")
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
    if png is not None:
        draw_rates(figures, png)
        console.print(f"chart written to {png}")


#: Fonts with Chinese glyphs, in order of preference (Debian packages).
CJK_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)
RATES = [
    ("响应率", "feedbackloop_response_rate"),
    ("解决率", "feedbackloop_resolution_rate"),
    ("满意率", "feedbackloop_satisfaction_rate"),
]


def monthly_report(
    month: str,
    *,
    out: Path,
    weights_path: Path | None,
    bootstrap: str | None,
    pdf: Path | None = None,
) -> None:
    """Fold the log, rank the month's units, write the three files and print the table; with
    `pdf`, also write the month's public report there from the same fold."""
    from feedbackloop.cli.kafka import bootstrap_or_local
    from feedbackloop.cli.monthly import draw_scores, write_csv, write_xlsx
    from services.metrics.config import get_settings
    from services.metrics.history import fold_log
    from services.metrics.monthly_figures import MonthlyFigures
    from services.metrics.pages import MONTH
    from services.metrics.scoring import load_weights, rank_month

    if not MONTH.match(month):
        raise typer.BadParameter("月份格式应为“年-月”，例如 2026-11", param_hint="--month")
    try:
        rules = load_weights(weights_path or get_settings().scoring_path)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--weights") from None
    figures = MonthlyFigures()
    fold = fold_log(bootstrap_or_local(bootstrap), figures=figures)
    scores = rank_month(fold, month, weights=rules)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"scores-{month}"
    write_csv(scores, stem.with_suffix(".csv"))
    write_xlsx(scores, stem.with_suffix(".xlsx"), month=month, weights=rules)
    draw_scores(scores, stem.with_suffix(".png"), month=month)
    table = Table(
        "名次", "承办单位", "得分", "响应率", "解决率", "满意率", "扣分", title=f"{month} 考核"
    )
    for row in scores:
        rates = (row.response_rate, row.resolution_rate, row.satisfaction_rate)
        table.add_row(
            str(row.rank),
            row.name,
            f"{row.score:.2f}",
            *("—" if r is None else f"{r:.1%}" for r in rates),
            f"{row.deductions:.2f}",
        )
    console.print(table)
    console.print(f"{len(scores)} units; written {stem}.csv, .xlsx and .png")
    if pdf is not None:
        from feedbackloop.cli.public_pdf import write_public_report
        from services.metrics.public_report import build_report

        public = build_report(fold, figures, month, weights=rules)
        pdf.parent.mkdir(parents=True, exist_ok=True)
        pages = write_public_report(public, pdf)
        console.print(f"public report ({public.received} items, {pages} pages) written to {pdf}")


def chinese_font() -> Path:
    """A font file with Chinese glyphs; BadParameter naming the package if there is none."""
    font = next((f for f in CJK_FONTS if f.exists()), None)
    if font is None:
        raise typer.BadParameter("no Chinese font found; install Debian's fonts-wqy-microhei")
    return font


def draw_rates(figures: dict[str, dict[str, float]], path: Path) -> None:
    """A grouped bar chart of the three rates per department."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write files only
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    chinese = font_manager.FontProperties(fname=str(chinese_font()))
    departments = sorted(figures)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(departments)), 4), dpi=120)
    width = 0.8 / len(RATES)
    for i, (label, metric) in enumerate(RATES):
        values = [figures[d].get(metric, 0.0) for d in departments]
        positions = [n + (i - 1) * width for n in range(len(departments))]
        ax.bar(positions, values, width, label=label)
    ax.set_xticks(range(len(departments)), departments)
    ax.set_ylim(0, 1)
    ax.set_ylabel("比例", fontproperties=chinese)
    ax.set_title("各部门三率（响应率、解决率、满意率）", fontproperties=chinese)
    ax.legend(prop=chinese)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def draw_reliability(report: dict[str, Any], path: Path, *, title: str) -> None:
    """The reliability diagram of `services.router.reliability.reliability`, with item counts."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write files only
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    font = next((f for f in CJK_FONTS if f.exists()), None)
    chinese = font_manager.FontProperties(fname=str(font)) if font else None
    filled = [r for r in report["bins"] if r["items"]]
    fig, (top, counts) = plt.subplots(
        2, 1, figsize=(6, 6.5), dpi=120, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="完全校准")
    top.plot(
        [r["mean_confidence"] for r in filled],
        [r["accuracy"] for r in filled],
        marker="o",
        label="模型",
    )
    top.axvline(report["threshold"], color="tab:red", linewidth=1, label="自动分派阈值")
    top.set_ylabel("准确率", fontproperties=chinese)
    top.set_ylim(0, 1)
    top.set_title(
        f"{title}：置信度可靠性图（ECE {report['expected_calibration_error']:.3f}）",
        fontproperties=chinese,
    )
    top.legend(prop=chinese, loc="upper left")
    counts.bar(
        [(r["low"] + r["high"]) / 2 for r in report["bins"]],
        [r["items"] for r in report["bins"]],
        width=0.09,
    )
    counts.set_xlabel("首选类别的置信度", fontproperties=chinese)
    counts.set_ylabel("条数", fontproperties=chinese)
    counts.set_xlim(0, 1)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
