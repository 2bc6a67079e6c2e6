"""Masking personal numbers: the quick scan for a number never changes what is masked."""

import csv
import random
from pathlib import Path

import pytest

from services.intake import privacy
from services.intake.config import Settings


def masked_the_long_way(text: str) -> str:
    """The four substitutions without the quick scan in front of them."""
    text = privacy._RESIDENT_ID.sub(privacy._mask_id, text)
    text = privacy._BANK_CARD.sub(privacy._mask_card, text)
    text = privacy._MOBILE.sub(privacy._mask_mobile, text)
    return privacy._LANDLINE.sub(privacy._mask_landline, text)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("电话13812345678找我", "电话138****5678找我"),
        ("电话 +86 138 1234 5678", "电话 138****5678"),
        ("座机010-12345678", "座机010******78"),
        ("卡号6222 0212 3456 7890 128", "卡号6222 **** **** 0128"),
        ("卡号6222 0212 3456 7890 129", "卡号6222 0212 3456 7890 129"),  # Luhn fails: kept
        ("身份证11010519491231002X", "身份证1101**********002X"),
        ("3号楼2单元502室，共6户", "3号楼2单元502室，共6户"),
        ("编号123456不是电话", "编号123456不是电话"),
    ],
)
def test_numbers_are_masked_and_other_digits_kept(text: str, masked: str) -> None:
    assert privacy.mask_personal_numbers(text) == masked
    assert masked_the_long_way(text) == masked


def test_the_quick_scan_agrees_with_the_full_masking_on_real_and_random_texts() -> None:
    data = Settings().taxonomy_path.parent / "messages_unlabelled.csv"
    with Path(data).open(encoding="utf-8", newline="") as handle:
        texts = [row["detail"] for row in csv.DictReader(handle)][:1500]
    pieces = ["1", "3", "8", "0", " ", "-", "+86", "号楼", "电话", "X", "１３８"]
    chance = random.Random(16)
    texts += ["".join(chance.choices(pieces, k=chance.randint(1, 40))) for _ in range(1500)]
    for text in texts:
        assert privacy.mask_personal_numbers(text) == masked_the_long_way(text), text
