"""诉求类型 inferred from the words: explicit words win, questions without trouble consult."""

import pytest

from feedbackloop.events import RequestType
from services.intake.request_types import infer_request_type

C = RequestType


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("请问计划停水期间去哪里取水？", C.CONSULTATION),  # 停水 in a question about it
        ("居住证怎么办理，需要哪些材料", C.CONSULTATION),
        ("公积金提取需要什么材料？", C.CONSULTATION),
        ("社保卡丢了可以在网上补办吗", C.CONSULTATION),
        ("我要投诉某超市缺斤少两", C.COMPLAINT),
        ("举报小区有人私搭乱建", C.REPORT),
        ("建议在幸福路口增设红绿灯", C.SUGGESTION),
        ("求助：老人走失了", C.HELP),
        ("路灯坏了一个月了，怎么没人管？", None),  # trouble, asked as a question: not a 咨询
        ("幸福小区3栋自来水管漏水", None),
        ("", None),
        ("？？？", None),
        ("咨询一下，停电了找哪个部门", C.CONSULTATION),
    ],
)
def test_the_type_a_text_shows(text: str, expected: RequestType | None) -> None:
    assert infer_request_type(text) is expected
