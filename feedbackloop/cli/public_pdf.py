"""`feedbackloop report --month M --pdf FILE`: the monthly public report (每月公开报告) as a PDF.

A4 pages drawn with matplotlib, all text in Simplified Chinese with the Chinese font of
`report.chinese_font` embedded as TrueType (`pdf.fonttype` 42), so that every reader shows
the glyphs and the text can be searched and copied (and checked by the tests). The figures come
from `services.metrics.public_report.build_report`; this module only lays them out.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from services.metrics.public_report import MIN_PLACE_ITEMS, Problem, PublicReport

A4 = (8.27, 11.69)  # inches, portrait
#: Ranking rows per page of the 三率 table.
ROWS_PER_PAGE = 30
NO_DATA = "本月无数据"


def percent(value: float | None) -> str:
    """A share as the report prints it ("95.0%"), "—" where there is none."""
    return "—" if value is None else f"{value:.1%}"


def month_title(month: str) -> str:
    """ "2026-11" -> "2026年11月"."""
    year, number = month.split("-")
    return f"{year}年{int(number)}月"


@contextmanager
def _pages(path: Path) -> Iterator[Any]:
    import matplotlib

    matplotlib.use("Agg")  # no display: write files only
    from matplotlib import font_manager
    from matplotlib.backends.backend_pdf import PdfPages

    from feedbackloop.cli.report import chinese_font

    font = str(chinese_font())
    font_manager.fontManager.addfont(font)
    family = font_manager.FontProperties(fname=font).get_name()
    # Type 42 embeds the TrueType glyphs with their Unicode, so the text can be read back.
    embedded = matplotlib.rc_context(
        {"pdf.fonttype": 42, "font.family": [family], "axes.unicode_minus": False}
    )
    with embedded, PdfPages(path) as pdf:
        info = pdf.infodict()
        info["Title"] = "12345 市民服务热线诉求办理情况月度公开报告"
        yield pdf


def _page(pdf: Any, title: str, draw: Any) -> None:
    from matplotlib import pyplot as plt

    fig = plt.figure(figsize=A4)
    fig.text(0.08, 0.95, title, fontsize=18)
    draw(fig)
    pdf.savefig(fig)
    plt.close(fig)


def _summary(report: PublicReport) -> list[str]:
    if not report.received and not report.resolutions and not report.scores:
        return ["本月无诉求数据：没有受理、办结或回访的诉求。"]
    lines = [
        f"本月共受理诉求 {report.received} 件。",
        f"办结 {report.resolutions} 件，其中按期办结 {report.resolutions_on_time} 件，"
        f"按期办结率 {percent(report.resolution_share)}。",
        f"应签收 {report.responses_due} 次，按时签收 {report.responses_in_time} 次，"
        f"按时签收率 {percent(report.response_share)}。",
        f"有效回访 {report.surveys_answered} 次，回访满意率 {percent(report.satisfaction_share)}，"
        f"问题解决率 {percent(report.solved_share)}。",
        f"参加考核的承办单位 {len(report.scores)} 个。",
    ]
    if report.problems:
        top = "、".join(f"{p.category}（{p.counts[-1]} 件）" for p in report.problems[:3])
        lines.append(f"本月诉求最多的类别：{top}。")
    return lines


NOTES = (
    "说明：",
    "1. 统计期为北京时间当月 1 日 0 时至月末 24 时。诉求按受理时间计入当月，",
    "    办结、签收、回访按发生时间计入当月。",
    "2. 承办单位三率（响应率、解决率、满意率）与月度考核排名口径一致：",
    "    经审核的不合理诉求不计入解决率和满意率，协办单位按其协办职责计入。",
    "    全市回访满意率、问题解决率按全部有效回访计算。",
    "3. 本报告仅公开汇总数据，不含任何个人信息；",
    f"    地点仅在同月至少 {MIN_PLACE_ITEMS} 件诉求提及时列出。",
)


def _cover(report: PublicReport) -> Any:
    def draw(fig: Any) -> None:
        fig.text(0.08, 0.86, f"{month_title(report.month)}诉求办理情况", fontsize=26)
        fig.text(0.08, 0.82, "月度公开报告（政务公开）", fontsize=16)
        fig.text(0.08, 0.78, f"统计期：{month_title(report.month)}（北京时间）", fontsize=11)
        headline = [
            ("受理诉求", f"{report.received} 件"),
            ("办结", f"{report.resolutions} 件"),
            ("按期办结率", percent(report.resolution_share)),
            ("按时签收率", percent(report.response_share)),
            ("回访满意率", percent(report.satisfaction_share)),
            ("问题解决率", percent(report.solved_share)),
        ]
        for n, (label, value) in enumerate(headline):
            x, y = 0.08 + (n % 3) * 0.29, 0.66 - (n // 3) * 0.11
            fig.patches.append(_box(fig, x, y))
            fig.text(x + 0.02, y + 0.05, value, fontsize=20, color="#1f4e79")
            fig.text(x + 0.02, y + 0.015, label, fontsize=11)
        pieces = [piece for line in _summary(report) for piece in _wrap(line)]
        for n, piece in enumerate(pieces):
            fig.text(0.08, 0.47 - n * 0.03, piece, fontsize=11.5)
        for n, line in enumerate(NOTES):
            fig.text(0.08, 0.2 - n * 0.022, line, fontsize=8.5, color="#444444")

    return draw


def _wrap(line: str, width: int = 44) -> list[str]:
    """A line cut into pieces of `width` characters (Chinese has no spaces to break at)."""
    return [line[i : i + width] for i in range(0, len(line), width)] or [""]


def _box(fig: Any, x: float, y: float) -> Any:
    from matplotlib.patches import FancyBboxPatch

    return FancyBboxPatch(
        (x, y),
        0.26,
        0.09,
        boxstyle="round,pad=0.005",
        transform=fig.transFigure,
        facecolor="#eef3f8",
        edgecolor="#9db4cc",
    )


def _bars(ax: Any, rows: Sequence[tuple[str, int]], title: str, unit: str = "件") -> None:
    """Horizontal bars, most first, each with its count and share."""
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title, fontsize=13, loc="left")
    if not rows:
        ax.axis("off")
        ax.text(0.5, 0.5, NO_DATA, ha="center", va="center", fontsize=14, transform=ax.transAxes)
        return
    total = sum(count for _, count in rows)
    labels = [label for label, _ in rows][::-1]
    counts = [count for _, count in rows][::-1]
    ax.barh(range(len(rows)), counts, color="#4f81bd")
    ax.set_yticks(range(len(rows)), labels, fontsize=9)
    ax.set_xlim(0, max(counts) * 1.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # items come whole
    for n, count in enumerate(counts):
        ax.annotate(
            f"{count} {unit}（{count / total:.1%}）",
            (count, n),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8.5,
        )
    ax.spines[["top", "right"]].set_visible(False)


def _volumes(report: PublicReport) -> Any:
    def draw(fig: Any) -> None:
        fig.text(0.08, 0.92, f"本月受理诉求 {report.received} 件。", fontsize=11)
        top = fig.add_axes((0.3, 0.62, 0.6, 0.25))
        _bars(top, report.channels, "按受理渠道")
        bottom = fig.add_axes((0.3, 0.08, 0.6, 0.48))
        _bars(bottom, report.districts[:20], "按所在区")

    return draw


def _categories(report: PublicReport) -> Any:
    def draw(fig: Any) -> None:
        fig.text(0.08, 0.92, "按一级分类统计本月受理的诉求（以最终派单类别为准）。", fontsize=11)
        _bars(fig.add_axes((0.3, 0.08, 0.6, 0.8)), report.categories[:25], "按诉求类别")

    return draw


RANK_COLUMNS = ("名次", "承办单位", "响应率", "解决率", "满意率", "签收超时", "办结超时", "得分")


def _ranking(report: PublicReport, rows: Sequence[Any], first: bool) -> Any:
    def draw(fig: Any) -> None:
        if first:
            fig.text(
                0.08,
                0.92,
                "承办单位按月度考核得分排名；三率与考核排名、三率排行榜本月数据一致。",
                fontsize=11,
            )
        ax = fig.add_axes((0.06, 0.06, 0.88, 0.84))
        ax.axis("off")
        if not rows:
            ax.text(0.5, 0.8, NO_DATA, ha="center", fontsize=14, transform=ax.transAxes)
            return
        cells = [
            [
                str(row.rank),
                row.name,
                percent(row.response_rate),
                percent(row.resolution_rate),
                percent(row.satisfaction_rate),
                str(row.late_acceptances),
                str(row.late_completions),
                f"{row.score:.2f}",
            ]
            for row in rows
        ]
        table = ax.table(
            cellText=cells,
            colLabels=RANK_COLUMNS,
            loc="upper center",
            cellLoc="center",
            colWidths=(0.07, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1),
        )
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        table.scale(1, 1.5)
        for column in range(len(RANK_COLUMNS)):
            table[0, column].set_facecolor("#dbe5f1")

    return draw


def _deadlines(report: PublicReport) -> Any:
    def draw(fig: Any) -> None:
        lines = [
            f"签收：应签收 {report.responses_due} 次，按时签收 {report.responses_in_time} 次，"
            f"签收超时 {report.late_acceptances} 次，按时签收率 {percent(report.response_share)}。",
            f"办结：本月办结 {report.resolutions} 件，按期办结 {report.resolutions_on_time} 件，"
            f"按期办结率 {percent(report.resolution_share)}；本月超过办结时限 "
            f"{report.late_completions} 次。",
        ]
        for n, line in enumerate(lines):
            fig.text(0.08, 0.9 - n * 0.03, line, fontsize=11)
        pairs = [
            (
                "签收",
                report.responses_in_time,
                report.responses_due - report.responses_in_time,
                "按时",
                "超时",
            ),
            (
                "办结",
                report.resolutions_on_time,
                report.resolutions - report.resolutions_on_time,
                "按期",
                "逾期",
            ),
        ]
        for n, (title, kept, missed, good, bad) in enumerate(pairs):
            ax = fig.add_axes((0.1 + n * 0.45, 0.45, 0.35, 0.35))
            ax.set_title(f"{title}时限", fontsize=13)
            if kept + missed == 0:
                ax.axis("off")
                ax.text(0.5, 0.5, NO_DATA, ha="center", fontsize=14, transform=ax.transAxes)
                continue
            ax.pie(
                [kept, missed],
                labels=[f"{good} {kept}", f"{bad} {missed}"],
                colors=["#4f81bd", "#c0504d"],
                autopct=lambda pct: f"{pct:.1f}%" if pct else "",
                startangle=90,
                counterclock=False,
                textprops={"fontsize": 10},
            )

    return draw


def _trend_table(ax: Any, problems: Sequence[Problem], months: Sequence[str]) -> None:
    columns = ["问题", *(f"{int(m[5:])}月" for m in months), "环比"]
    cells = [
        [
            p.category if p.place is None else f"{p.place}·{p.category}",
            *(str(c) for c in p.counts),
            f"{p.change:+d}" if p.change else "持平",
        ]
        for p in problems
    ]
    table = ax.table(cellText=cells, colLabels=columns, loc="upper center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.5)
    table.auto_set_column_width(list(range(len(columns))))
    for column in range(len(columns)):
        table[0, column].set_facecolor("#dbe5f1")


def _problems(report: PublicReport) -> Any:
    def draw(fig: Any) -> None:
        from matplotlib.ticker import MaxNLocator

        fig.text(
            0.08,
            0.92,
            f"每月一题：本月诉求最多的类别及其近 {len(report.trend_months)} 个月的变化。",
            fontsize=11,
        )
        chart = fig.add_axes((0.1, 0.58, 0.62, 0.3))
        if not report.problems:
            chart.axis("off")
            chart.text(0.5, 0.5, NO_DATA, ha="center", fontsize=14, transform=chart.transAxes)
            return
        labels = [f"{int(m[5:])}月" for m in report.trend_months]
        for problem in report.problems:
            chart.plot(labels, problem.counts, marker="o", label=problem.category)
        chart.set_ylabel("诉求件数")
        chart.set_ylim(bottom=0)
        chart.yaxis.set_major_locator(MaxNLocator(integer=True))
        chart.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
        chart.spines[["top", "right"]].set_visible(False)
        ax = fig.add_axes((0.08, 0.34, 0.84, 0.2))
        ax.axis("off")
        _trend_table(ax, report.problems, report.trend_months)
        fig.text(0.08, 0.3, "集中反映的地点（同月至少 3 件）", fontsize=13)
        places = fig.add_axes((0.08, 0.06, 0.84, 0.22))
        places.axis("off")
        if report.places:
            _trend_table(places, report.places, report.trend_months)
        else:
            places.text(0.0, 0.85, "本月没有同一地点集中反映的问题。", fontsize=11)

    return draw


def write_public_report(report: PublicReport, path: Path) -> int:
    """Write the report as an A4 PDF; the number of pages written."""
    ranking = [
        report.scores[i : i + ROWS_PER_PAGE]
        for i in range(0, max(len(report.scores), 1), ROWS_PER_PAGE)
    ]
    pages = [
        ("12345 市民服务热线", _cover(report)),
        ("一、诉求受理量", _volumes(report)),
        ("二、诉求类别", _categories(report)),
        *(
            ("三、承办单位三率排名" + ("（续）" if n else ""), _ranking(report, rows, n == 0))
            for n, rows in enumerate(ranking)
        ),
        ("四、办理时限", _deadlines(report)),
        ("五、每月一题", _problems(report)),
    ]
    with _pages(path) as pdf:
        for heading, draw in pages:
            _page(pdf, heading, draw)
    return len(pages)
