"""诉求类型 (request type) from a citizen's words, cheaply: cue words, no model.

Hotline agents choose the type on the call; for WeChat, web forms and Open311 intake infers
it here so that consultations (咨询) can be counted (the 直接答复率's denominator) and, on
WeChat, answered from the knowledge base. The cues favour precision: an explicit word
(投诉, 举报, 建议, 求助) wins, and a consultation needs a question about how, where, when or
whether, without words of something gone wrong (unless they say they ask: 请问, 咨询).
Anything else is left None rather than guessed, and a department still handles it as before.
"""

import re
import unicodedata

from feedbackloop.events import RequestType

_EXPLICIT = (
    (RequestType.REPORT, re.compile(r"举报|检举|揭发")),
    (RequestType.COMPLAINT, re.compile(r"投诉|态度(很|太|极)?差|不作为|乱收费")),
    (RequestType.SUGGESTION, re.compile(r"(建议|提议)(在|把|增加|增设|设置|政府|相关|有关|：|:)")),
    (RequestType.HELP, re.compile(r"求助|求救|帮帮|救救")),
)
#: Someone saying outright that they ask: a consultation even about trouble ("请问停水找谁").
_ASKING = re.compile(r"请问|咨询|想问|想了解|问一下|了解一下")
_QUESTION = re.compile(
    r"如何|怎么|怎样|哪里|哪儿|哪些|哪个|什么时候|多久|多少钱|需要(什么|哪些)|是否|能否"
    r"|可以.{0,12}吗|吗[？?]?$"
)
#: Words of something broken, dangerous or done wrong: that is a request for action, even
#: when phrased as a question ("路灯坏了怎么没人修？").
_TROUBLE = re.compile(
    r"坏了|损坏|漏水|停水|停电|堵塞|噪音|扰民|占道|违章|违建|拖欠|欠薪|没人管|不处理|"
    r"臭|污染|危险|塌|着火|受伤|被骗"
)


def infer_request_type(text: str) -> RequestType | None:
    """The request type the words show, or None when they show none clearly."""
    flat = unicodedata.normalize("NFKC", text).strip()
    for kind, cue in _EXPLICIT:
        if cue.search(flat):
            return kind
    if _ASKING.search(flat) or (_QUESTION.search(flat) and not _TROUBLE.search(flat)):
        return RequestType.CONSULTATION
    return None
