"""Masking for the public board: real-looking personal data in citizens' words and replies."""

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedbackloop.public_text import SURNAMES, mask_for_public

# (text, what must be gone, what must stay)
CASES = [
    ("我叫王小明，住在幸福小区", "王小明", "幸福小区"),
    ("我叫李强住在人民路", "李强", "人民路"),
    ("联系人：张伟，电话见登记", "张伟", "电话见登记"),
    ("姓名 欧阳娜娜，反映噪音", "欧阳娜", "反映噪音"),
    ("本人刘德华，业主。", "刘德华", "业主"),
    ("我是陈静，三楼住户", "陈静", "住户"),
    ("张先生反映楼上漏水", "张先生", "反映楼上漏水"),
    ("物业的李师傅说明天来修", "李师傅", "说明天来修"),
    ("学校的黄老师和赵女士都看到了", "黄老师", "都看到了"),
    ("王某某女士多次反映", "王某某女士", "多次反映"),
    ("请联系13812345678", "13812345678", "请联系"),
    ("电话 138 1234 5678", "1234 5678", "电话"),
    ("手机：138-1234-5678", "1234-5678", "手机"),
    ("+86 13912345678 找我", "13912345678", "找我"),
    ("座机0731-88886666", "88886666", "座机"),
    ("拨打 010 12345678 投诉", "12345678", "投诉"),
    ("已经打了138****5678很多次", "5678", "很多次"),
    ("身份证号430102199001011234", "430102199001011234", "身份证号"),
    ("身份证 11010519491231002X 丢了", "11010519491231002X", "丢了"),
    ("身份证4301**********1234", "1234", "身份证"),
    ("银行卡6222 0212 3456 7890 123被扣款", "7890", "被扣款"),
    ("卡号6222021234567890123", "6222021234567890123", "卡号"),
    ("住在3栋2单元501室", "501", "住在"),
    ("5-4304楼上漏水", "4304", "楼上漏水"),
    ("12号楼3门楼道灯坏了", "12号楼3门", "楼道灯坏了"),
    ("幸福小区3栋501天天漏水", "3栋501", "天天漏水"),
    ("7幢1单元楼下堆放垃圾", "7幢1单元", "堆放垃圾"),
    ("住1201室的邻居", "1201", "邻居"),
    ("人民路18号门口积水", "18号", "人民路"),
    ("解放西路18-2号的店铺", "18-2", "解放西路"),
    ("3-2-501的住户装修", "3-2-501", "装修"),
    ("车牌湘A12345的车长期占道", "湘A12345", "长期占道"),
    ("京A·D12345停在消防通道", "D12345", "消防通道"),
    ("新能源车粤BD12345乱停，粤B12345D也是", "12345", "乱停"),
    ("沪C 8888A 违停", "8888A", "违停"),
    ("邮箱abc.def@qq.com可以联系", "abc.def@qq.com", "可以联系"),
    ("加我微信号wxid_abc123", "wxid_abc123", "加我"),
    ("微信：zhangsan_88", "zhangsan_88", "微信"),
    ("QQ：12345678", "12345678", "QQ"),
    ("我的qq号 987654321", "987654321", "我的"),
]

# Words that look a little like personal data but name nobody: they must survive.
KEPT = [
    "5月3号下午3点，12路公交车没有停站",
    "小区门口3楼的路灯坏了一个月",
    "2019年修了100米路，2024-05-03又挖开了",
    "我是业主，小区门口垃圾没人清运",
    "小高层住宅电梯经常停运",
    "已安排工作人员于3日内处理完毕",
]


@pytest.mark.parametrize(("text", "gone", "kept"), CASES)
def test_each_kind_of_personal_datum_is_masked(text: str, gone: str, kept: str) -> None:
    masked = mask_for_public(text)
    assert gone not in masked, masked
    assert kept in masked, masked


@pytest.mark.parametrize("text", KEPT)
def test_words_that_name_nobody_are_kept(text: str) -> None:
    assert mask_for_public(text) == text


def test_the_unit_reply_is_masked_too() -> None:
    reply = "已联系市民张先生（13812345678），对3栋2单元501室漏水管段进行更换。"
    masked = mask_for_public(reply)
    assert "张先生" not in masked and "13812345678" not in masked and "501" not in masked
    assert "漏水管段进行更换" in masked


def test_markup_is_left_as_text_for_the_templates_to_escape() -> None:
    # Masking is not escaping: the board's templates autoescape whatever is left.
    assert mask_for_public("<script>alert(1)</script>") == "<script>alert(1)</script>"


# No surname characters and no digits or Latin letters: the filler cannot recreate a datum.
FILLER = st.text(alphabet="的了在路灯坏掉请尽快处理，。小区门口垃圾噪音积水", max_size=30)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
NAMES = st.builds(
    lambda s, g: s + g,
    st.sampled_from(SURNAMES),
    st.text(alphabet=GIVEN, min_size=1, max_size=2),
)
MOBILES = st.builds(
    lambda head, rest, sep: f"1{head}{rest[:1]}{sep}{rest[1:5]}{sep}{rest[5:]}",
    st.sampled_from("3456789"),
    st.text(alphabet=string.digits, min_size=9, max_size=9),
    st.sampled_from(["", " ", "-"]),
)
LANDLINES = st.builds(
    lambda area, number, sep: f"0{area}{sep}{number}",
    st.text(alphabet=string.digits, min_size=2, max_size=3),
    st.text(alphabet=string.digits, min_size=7, max_size=8),
    st.sampled_from(["", "-", " "]),
)
IDS = st.builds(
    lambda digits, last: digits + last,
    st.text(alphabet=string.digits, min_size=17, max_size=17),
    st.sampled_from([*string.digits, "X"]),
)
PLATES = st.builds(
    lambda province, letter, sep, rest: f"{province}{letter}{sep}{rest}",
    st.sampled_from("京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"),
    st.sampled_from(string.ascii_uppercase),
    st.sampled_from(["", "·", " "]),
    st.text(alphabet=string.ascii_uppercase + string.digits, min_size=5, max_size=6).filter(
        lambda r: any(c.isdigit() for c in r)
    ),
)
HOUSES = st.builds(
    lambda b, u, r: f"{b}栋{u}单元{r}室",
    st.integers(1, 40),
    st.integers(1, 6),
    st.integers(101, 3306),
)
CUES = ["我叫", "联系人：", "姓名", "本人"]
TITLES = ["先生", "女士", "师傅", "老师"]


@settings(max_examples=300, deadline=None)
@given(
    before=FILLER,
    after=FILLER,
    name=NAMES,
    cue=st.sampled_from(CUES),
    title=st.sampled_from(TITLES),
    mobile=MOBILES,
    landline=LANDLINES,
    resident_id=IDS,
    plate=PLATES,
    house=HOUSES,
)
def test_injected_personal_data_never_survive(
    before: str,
    after: str,
    name: str,
    cue: str,
    title: str,
    mobile: str,
    landline: str,
    resident_id: str,
    plate: str,
    house: str,
) -> None:
    surname = name[0]
    text = (
        f"{before}{cue}{name}，{after}住{house}，手机{mobile}，座机{landline}，"
        f"身份证{resident_id}，车牌{plate}，{surname}{title}也知道。{after}"
    )
    masked = mask_for_public(text)
    for datum in (name, mobile, landline, resident_id, plate, house, surname + title):
        assert datum not in masked, (datum, masked)
    digits = [mobile, landline, resident_id]
    for number in digits:
        tail = "".join(c for c in number if c.isdigit())[-4:]
        assert tail not in "".join(c for c in masked if c.isdigit() or c == "X"), masked
