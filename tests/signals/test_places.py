"""The place an item names."""

import csv

from hypothesis import given, settings
from hypothesis import strategies as st

from feedbackloop.devstack.config import StackSettings
from feedbackloop.places import PLACE, _place_matches, place_of


def test_places_are_specific() -> None:
    assert place_of("A3区幸福小区3栋漏水") == "A3区幸福小区"
    assert place_of("A市五一大道噪音扰民") == "A市五一大道"
    assert place_of("A3区有问题") is None
    assert place_of("我们来自农村，今有关于小区的事") is None
    assert place_of("其中包括星沙街道的几个路口") == "星沙街道"


# Letters that make places (suffixes, names, break characters) and some that end them.
PLACE_ALPHABET = "小区花园村镇街道大路学校中幼儿医院市场广公社家的是在来自A1z ，。\n_é"


@given(st.text(alphabet=PLACE_ALPHABET, max_size=40))
@settings(max_examples=3000, deadline=None)
def test_places_are_found_as_the_place_pattern_defines_them(text: str) -> None:
    assert list(_place_matches(text)) == [m.group(1) for m in PLACE.finditer(text)]


def test_places_in_the_real_messages_are_found_as_the_pattern_defines_them() -> None:
    with (StackSettings().data_dir / "messages_with_votes.csv").open(encoding="utf-8") as handle:
        texts = [f"{row['subject']}\n{row['detail']}" for row in csv.DictReader(handle)]
    for text in texts:
        assert list(_place_matches(text)) == [m.group(1) for m in PLACE.finditer(text)]
