"""The monthly public report as a PDF: rendered to PNG, its text layer checked against the events.

The renderer is PDFium (pypdfium2, a dev dependency with wheels), which also reads the text
layer: the figures are found there as the report printed them, with the Chinese font embedded.
"""

from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageStat
from typer.testing import CliRunner

from feedbackloop import cli
from feedbackloop.cli.public_pdf import write_public_report
from services.metrics import history
from services.metrics.fold import EventFold
from services.metrics.monthly_figures import MonthlyFigures
from services.metrics.public_report import build_report
from services.metrics.scoring import Weights
from tests.metrics.month_events import MONTH, month_events

SCREENSHOT = Path(__file__).resolve().parents[2] / "artifacts/screenshots/monthly-public-report.png"


def fold_events(figures: MonthlyFigures | None = None) -> EventFold:
    fold = EventFold(dedup_window=1000)
    for event in month_events():
        if fold.apply(event) and figures is not None:
            figures.apply(event)
    return fold


def write(month: str, path: Path) -> int:
    figures = MonthlyFigures()
    fold = fold_events(figures)
    return write_public_report(build_report(fold, figures, month, weights=Weights()), path)


def pages_text(path: Path) -> list[str]:
    document = pdfium.PdfDocument(path)
    try:
        return [page.get_textpage().get_text_range() for page in document]
    finally:
        document.close()


def first_page_png(path: Path, out: Path) -> Image.Image:
    document = pdfium.PdfDocument(path)
    try:
        image = document[0].render(scale=2).to_pil()
    finally:
        document.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    return image


def lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines()]


def test_the_pdf_renders_and_its_text_says_the_month_s_figures(tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    assert write(MONTH, pdf) == 6
    image = first_page_png(pdf, SCREENSHOT)
    width, height = image.size
    assert abs(height / width - 297 / 210) < 0.01  # A4 portrait
    grey = image.convert("L")
    assert ImageStat.Stat(grey).extrema[0][0] < 60  # dark text on the page
    dark = sum(grey.histogram()[:200])
    assert dark > 0.01 * width * height, "the first page is (nearly) blank"

    cover, volumes, categories, ranking, deadlines, problems = (lines(t) for t in pages_text(pdf))
    assert "2026年11月诉求办理情况" in cover
    for sentence in (
        "本月共受理诉求 6 件。",
        "办结 3 件，其中按期办结 1 件，按期办结率 33.3%。",
        "应签收 3 次，按时签收 2 次，按时签收率 66.7%。",
        "有效回访 2 次，回访满意率 50.0%，问题解决率 50.0%。",
        "参加考核的承办单位 2 个。",
    ):
        assert sentence in cover
    for label in ("12345 热线电话", "网站", "微信", "开放接口（Open311）", "朝阳区", "海淀区"):
        assert label in volumes
    assert volumes.count("2 件（33.3%）") == 3  # hotline, web; 海淀区
    assert "3 件（50.0%）" in volumes  # 朝阳区
    assert {"供水", "市容环卫", "未分类", "3 件（50.0%）", "2 件（33.3%）"} <= set(categories)
    assert "1 市城市管理局 100.0% — — 0 0 100.00" in ranking
    assert "2 市水务局 50.0% 50.0% 50.0% 1 1 48.50" in ranking
    assert "签收：应签收 3 次，按时签收 2 次，签收超时 1 次，按时签收率 66.7%。" in deadlines
    assert {"供水 0 1 1 3 +2", "市容环卫 0 0 2 2 持平", "未分类 0 0 0 1 +1"} <= set(problems)
    assert "幸福小区·供水 0 0 1 3 +2" in problems


def test_the_pdf_publishes_no_personal_data_and_embeds_its_chinese_font(tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    write(MONTH, pdf)
    text = "\n".join(pages_text(pdf))
    for event in month_events():
        data: Any = event.data
        for private in (getattr(data, "ticket_no", None), getattr(data, "ticket_id", None)):
            assert private is None or private not in text
        if hasattr(data, "text"):
            assert data.text not in text
    # Places named by fewer than three items stay out.
    assert "建设路" not in text and "光明路" not in text
    raw = pdf.read_bytes()
    assert b"/FontFile2" in raw and b"WenQuanYi" in raw and b"/Type3" not in raw


def test_an_empty_month_gives_a_valid_report_saying_so(tmp_path: Path) -> None:
    pdf = tmp_path / "empty.pdf"
    assert write("2027-03", pdf) == 6
    cover, volumes, *_ = pages_text(pdf)
    assert "本月无诉求数据" in cover and "本月无数据" in volumes
    assert first_page_png(pdf, tmp_path / "empty.png").size[0] > 0


def test_report_month_pdf_writes_the_pdf_next_to_the_scoring_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fold_log(bootstrap: str, *, figures: MonthlyFigures | None = None) -> EventFold:
        assert bootstrap == "broker:9092"
        return fold_events(figures)

    monkeypatch.setattr(history, "fold_log", fold_log)
    out, pdf = tmp_path / "reports", tmp_path / "public" / f"report-{MONTH}.pdf"
    args = ["report", "--month", MONTH, "--out", str(out), "--pdf", str(pdf)]
    result = CliRunner().invoke(cli.app, [*args, "--bootstrap", "broker:9092"])
    assert result.exit_code == 0, result.output
    assert (out / f"scores-{MONTH}.csv").exists()
    assert "本月共受理诉求 6 件。" in lines(pages_text(pdf)[0])


@pytest.mark.parametrize("month", ["2026-13", "2026/11", "26-11"])
def test_a_malformed_month_is_refused_before_anything_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, month: str
) -> None:
    monkeypatch.setattr(history, "fold_log", lambda *_, **__: pytest.fail("the log was read"))
    pdf = tmp_path / "report.pdf"
    result = CliRunner().invoke(cli.app, ["report", "--month", month, "--pdf", str(pdf)])
    assert result.exit_code == 2
    assert "月份格式应为" in result.output and not pdf.exists()


def test_pdf_without_a_month_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["report", "--pdf", str(tmp_path / "r.pdf")])
    assert result.exit_code == 2 and "--month" in result.output
