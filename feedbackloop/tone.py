"""Whether an item reads angry or urgent (情绪激烈或紧急): the share of such items in a surge
tells operators whether a busy hour is also a heated one.

A word list, not a model: operators must be able to read why an item counted, and the words
citizens use when they are at the end of their patience are few and stable. The router's
`urgent` priority counts too (risk to life or property).
"""

import re

HEATED = re.compile(
    "忍无可忍|气愤|愤怒|太过分|欺人太甚|无法忍受|投诉无门|没人管|无人管|不作为|"
    "曝光|媒体|上访|集体|维权|严重影响|强烈要求|强烈谴责|马上|立即|紧急|危险|生命|"
    "[!！]{2,}|[?？]{3,}"
)


def is_heated(text: str, priority: str | None = None) -> bool:
    """True for an item that reads angry or urgent, or that the router found urgent."""
    return priority == "urgent" or HEATED.search(text) is not None
