"""`feedbackloop report --month`: a month's scoring (考核) as CSV, XLSX and a PNG chart.

The counts come from folding the whole log (`services.metrics.history`), the weights from
`scoring.yaml`, so the files say what the league table's month view says.
"""

import csv
from dataclasses import asdict, fields
from pathlib import Path

from services.metrics.scoring import MonthlyScore, Weights

#: Column titles of the files, in the order of `MonthlyScore`'s fields.
TITLES = {
    "rank": "名次",
    "department": "单位代码",
    "name": "承办单位",
    "response_rate": "响应率",
    "resolution_rate": "解决率",
    "satisfaction_rate": "满意率",
    "assignments_due": "计入响应率的派单",
    "surveys_answered": "已回访",
    "late_acceptances": "签收超时",
    "late_completions": "办结超时",
    "points": "三率得分",
    "deductions": "扣分",
    "score": "得分",
}


def _rows(scores: list[MonthlyScore]) -> list[list[object]]:
    names = [f.name for f in fields(MonthlyScore)]
    return [[asdict(row)[name] for name in names] for row in scores]


def write_csv(scores: list[MonthlyScore], path: Path) -> None:
    """The ranking as CSV, with a byte-order mark so that Excel reads the Chinese titles."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TITLES.values())
        writer.writerows(["" if v is None else v for v in row] for row in _rows(scores))


def write_xlsx(scores: list[MonthlyScore], path: Path, *, month: str, weights: Weights) -> None:
    """The ranking as a workbook: one sheet of scores (rates as percentages), one of weights."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = f"{month}考核"
    sheet.append(list(TITLES.values()))
    for row in _rows(scores):
        sheet.append(row)
    for column in ("D", "E", "F"):
        for cell in sheet[column][1:]:
            cell.number_format = "0.0%"
    rules = book.create_sheet("考核规则")
    rules.append(["项目", "值"])
    for name, value in weights.model_dump().items():
        rules.append([name, value])
    book.save(path)


def draw_scores(scores: list[MonthlyScore], path: Path, *, month: str) -> None:
    """A bar chart of the month's scores, best first, with the deductions stacked in grey."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write files only
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    from feedbackloop.cli.report import chinese_font

    chinese = font_manager.FontProperties(fname=str(chinese_font()))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.0 * len(scores)), 4.5), dpi=120)
    positions = range(len(scores))
    ax.bar(positions, [s.score for s in scores], label="得分")
    ax.bar(
        positions,
        [s.deductions for s in scores],
        bottom=[s.score for s in scores],
        color="lightgrey",
        label="扣分",
    )
    for n, row in enumerate(scores):
        ax.annotate(f"{row.score:.1f}", (n, row.score), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(positions), [s.name for s in scores], rotation=30, ha="right")
    for label in ax.get_xticklabels():
        label.set_fontproperties(chinese)
    ax.set_ylim(0, 105)
    ax.set_ylabel("得分", fontproperties=chinese)
    ax.set_title(f"{month} 承办单位考核得分", fontproperties=chinese)
    ax.legend(prop=chinese)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
