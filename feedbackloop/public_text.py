"""Masking for the public (公开): what may be shown to anyone of a citizen's words or a reply.

Intake masks validated phone, ID and card numbers for staff (`services/intake/privacy.py`);
text for the public board is held to a stricter rule: whatever *looks* like a personal datum
goes, valid or not, because a false alarm costs a few characters and a miss exposes a person.
It removes e-mail addresses, WeChat and QQ ids, every run of seven or more digits (phones with
or without separators, ID and bank card numbers, intake's own half-masked `138****5678`),
licence plates, house and room numbers, and names after the cues people use for them (我叫…,
联系人…, 张先生). Names with no cue at all cannot be told from other words; the operators'
moderation (暂不公开) is the net for those.
"""

import re

#: The commonest Chinese surnames (they cover about nine in ten people), for names that come
#: with a title (张先生) or after a weak cue (本人…), where another word could follow.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾"
    "毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关"
    "兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻"
    "祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿"
    "桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
_COMPOUND = "欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|长孙|宇文|司徒|夏侯|令狐|端木"
_SURNAME = f"(?:{_COMPOUND}|[{SURNAMES}])"
_HAN = "[\u4e00-\u9fff]"
_TITLES = "先生|女士|小姐|老师|师傅|阿姨|大爷|大妈|大姐|大哥|经理|主任|同志|医生|律师|老板|警官"

# Order matters: e-mail and ids before digit runs (they hold digits), plates before houses.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_ACCOUNT = re.compile(
    r"(微信号?|wechat|weixin|vx|QQ号?|qq号?|扣扣)\s*(?:号码|号)?\s*[:：是为]?\s*"
    r"([A-Za-z][-_A-Za-z0-9]{4,19}|\d{5,12})",
    re.IGNORECASE,
)
#: Seven or more digits (or intake's masking stars among them), with the separators people
#: type inside numbers: phones, landlines, IDs, bank cards, whatever half-masked.
_NUMBER = re.compile(r"(?<![0-9*])(?:\+?86[\s-]?)?[0-9*](?:[\s\-－—.·()（）]{0,2}[0-9*Xx]){6,}")
_PLATE = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领]\s?[A-Za-z]"
    r"\s?[·•.\-\s]?\s?[A-Za-z0-9]{4,7}[挂学警港澳领]?(?![A-Za-z0-9])"
)
_NUM = r"(?:\d{1,5}|[一二三四五六七八九十百零〇]{1,4}|[A-Za-z])"
_STRONG_UNIT = r"(?:号楼|号院|栋|幢|单元|室|户|房|号门)"
_ANY_UNIT = rf"(?:{_STRONG_UNIT}|座|门|层|楼|号|期|区|排|组)"
#: A chain of house-number parts (3栋2单元501室, 12号楼3门, 5号院2排3号) with a trailing bare
#: room number (3栋501); it must hold a strong part, so "5楼" or "3号" (a date) alone stay.
_HOUSE = re.compile(
    rf"(?:{_NUM}\s?{_ANY_UNIT}\s?)*{_NUM}\s?{_STRONG_UNIT}(?:\s?{_NUM}\s?{_ANY_UNIT})*(?:\s?\d{{2,5}})?"
)
#: 5-4304, 3-2-501, 12#301: numbers joined the way addresses write building and room.
_HOUSE_DASHED = re.compile(r"(?<![\d\-])\d{1,3}(?:\s?[-－—#]\s?\d{1,4}){1,3}(?![\d\-])")
#: A road's door number (人民路18号, 解放西路18-2号): the road stays, the number goes.
_DOOR = re.compile(r"(路|街|巷|弄|胡同|大道|道|里)\d{1,5}(?:[-－]\d{1,4})?号(?:院)?")
#: After these, whatever 2-3 characters follow are taken for a name.
_STRONG_CUE = re.compile(
    rf"(我叫|名叫|姓名|联系人|报警人|来电人|反映人|户主)\s*[:：是为]?\s*{_HAN}{{2,3}}"
)
#: After these, only a surname and one or two characters (本人张伟, 我是李娜).
_WEAK_CUE = re.compile(
    rf"(本人|我是|我姓|业主|租户)\s*[:：]?\s*{_SURNAME}{_HAN}{{0,2}}(?=[，,。.；;、\s]|$)"
)
_TITLED = re.compile(rf"{_SURNAME}(?:某某|某)?({_TITLES})")


_DATE = re.compile(r"(?:19|20)\d{2}[-./年]\d{1,2}[-./月]\d{1,2}日?")


def _number(match: re.Match[str]) -> str:
    # A written date (2024-05-03) has eight digits but names nobody.
    return match.group(0) if _DATE.fullmatch(match.group(0)) else "[号码]"


def mask_for_public(text: str) -> str:
    """The text with every personal datum it looks like it holds replaced by a placeholder."""
    text = _EMAIL.sub("[邮箱]", text)
    text = _ACCOUNT.sub(lambda m: f"{m.group(1)}[账号]", text)
    text = _PLATE.sub("[车牌]", text)
    text = _NUMBER.sub(_number, text)
    text = _DOOR.sub(lambda m: f"{m.group(1)}[门牌]", text)
    text = _HOUSE.sub("[门牌]", text)
    text = _HOUSE_DASHED.sub("[门牌]", text)
    text = _STRONG_CUE.sub(lambda m: f"{m.group(1)}某某", text)
    text = _WEAK_CUE.sub(lambda m: f"{m.group(1)}某某", text)
    return _TITLED.sub(lambda m: f"某{m.group(1)}", text)


def mask_optional(text: str | None) -> str | None:
    """`mask_for_public` of a text that may be missing."""
    return None if text is None else mask_for_public(text)
