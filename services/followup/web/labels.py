"""Words the workbench shows for codes (states come from `states.STATE_LABELS`)."""

from services.followup.auth import Principal

#: Every step of a ticket's timeline as a clerk reads it (notes included, unlike citizens).
KIND_LABELS = {
    "answered_directly": "直接答复",
    "opened": "派单",
    "rerouted": "改派",
    "accepted": "签收",
    "noted": "备注",
    "replied": "答复市民",
    "resolved": "办结",
    "return_requested": "申请退单",
    "return_refused": "退单未获同意",
    "returned": "同意退单",
    "extension_requested": "申请延期",
    "extension_rejected": "延期未获批准",
    "extended": "同意延期",
    "paused": "暂停计时",
    "resumed": "恢复计时",
    "warned": "催办",
    "breached": "超时",
    "escalated": "督办",
    "supervised": "督办",
    "survey_invited": "邀请回访评价",
    "surveyed": "市民评价",
    "reopened": "重新办理",
    "no_response": "回访无应答",
    "unreasonable_reviewed": "不合理诉求审核",
    "merged": "合并",
    "closed": "结案",
    "cohandler_assigned": "指定协办",
    "cohandler_accepted": "协办签收",
    "cohandler_submitted": "提交协办意见",
    "cohandler_overdue": "协办超时",
    "cohandler_withdrawn": "撤回协办",
    "published": "公开",
    "unpublished": "撤下公开",
}
PRIORITY_LABELS = {"urgent": "紧急", "high": "较急", "normal": "一般"}
CHANNEL_LABELS = {
    "web": "网站",
    "wechat": "微信公众号",
    "hotline": "12345 热线",
    "open311": "Open311 应用",
}
SLA_LABELS = {
    "on_time": "正常",
    "due_soon": "即将到期",
    "overdue": "已超时",
    "paused": "计时暂停",
}
ATTACHMENT_LABELS = {"image": "图片", "voice": "语音", "video": "视频", "file": "文件"}
ROLE_LABELS = {"department": "承办单位", "operator": "话务员", "supervisor": "督办"}


def actor_label(actor: str) -> str:
    """Who did something, in words ("department:water" -> "承办单位 water")."""
    kind, _, name = actor.partition(":")
    if kind == "system":
        return "系统"
    if kind == "citizen":
        return "市民"
    return f"{ROLE_LABELS.get(kind, kind)} {name}".strip()


def who(principal: Principal) -> str:
    """The signed-in account as the header shows it."""
    return f"{principal.name}（{ROLE_LABELS[principal.role.value]}）"


GLOBALS = {
    "KIND_LABELS": KIND_LABELS,
    "PRIORITY_LABELS": PRIORITY_LABELS,
    "CHANNEL_LABELS": CHANNEL_LABELS,
    "SLA_LABELS": SLA_LABELS,
    "ATTACHMENT_LABELS": ATTACHMENT_LABELS,
    "actor_label": actor_label,
    "who": who,
}
