"""The ticket state machine of DESIGN.md: which action may happen in which state.

    triage ─assign─► routed ─accept─► accepted ─resolve─► resolved ─survey─► surveyed ─► closed
                        │  ▲             │                    │                 │
                        │  └──reroute────┤ return (退单)       └─ no response ─► closed
                        └──── return ────┘                                      └─► reopened
    reopened ─accept/resolve─► ...   (a reopened ticket is worked again by the same department)

Notes, replies, extension requests and pauses do not change the state; they are allowed
while a department works the ticket. Clock warnings and breaches are facts, not actions.
"""

from enum import StrEnum

from feedbackloop.events import TicketState


class Action(StrEnum):
    """Something a person or the system does to a ticket."""

    ROUTE = "route"
    ACCEPT = "accept"
    NOTE = "note"
    REPLY = "reply"
    RESOLVE = "resolve"
    RETURN = "return"
    REQUEST_EXTENSION = "request_extension"
    DECIDE_EXTENSION = "decide_extension"
    PAUSE = "pause"
    RESUME = "resume"
    SURVEY = "survey"
    REOPEN = "reopen"
    CLOSE = "close"


S = TicketState
_WORKING = {S.ROUTED, S.ACCEPTED, S.REOPENED}

#: action -> states it may start from
ALLOWED: dict[Action, frozenset[TicketState]] = {
    Action.ROUTE: frozenset({S.TRIAGE, S.ROUTED, S.RETURNED, S.ACCEPTED, S.REOPENED}),
    Action.ACCEPT: frozenset({S.ROUTED, S.REOPENED}),
    Action.NOTE: frozenset(_WORKING | {S.RESOLVED, S.TRIAGE, S.RETURNED}),
    Action.REPLY: frozenset({S.ACCEPTED, S.REOPENED}),
    Action.RESOLVE: frozenset({S.ACCEPTED, S.REOPENED}),
    Action.RETURN: frozenset({S.ROUTED, S.ACCEPTED}),
    Action.REQUEST_EXTENSION: frozenset({S.ACCEPTED, S.REOPENED}),
    Action.DECIDE_EXTENSION: frozenset(_WORKING),
    Action.PAUSE: frozenset({S.ACCEPTED, S.REOPENED}),
    Action.RESUME: frozenset({S.ACCEPTED, S.REOPENED}),
    Action.SURVEY: frozenset({S.RESOLVED}),
    Action.REOPEN: frozenset({S.SURVEYED}),
    Action.CLOSE: frozenset({S.SURVEYED, S.RESOLVED}),
}

#: What people read when an action is refused (Chinese, for clerks and operators).
STATE_LABELS: dict[TicketState, str] = {
    S.RECEIVED: "已受理",
    S.TRIAGE: "人工分派中",
    S.ROUTED: "已派单",
    S.ACCEPTED: "办理中",
    S.RETURNED: "退回重派中",
    S.RESOLVED: "已办结",
    S.SURVEYED: "已回访",
    S.REOPENED: "重新办理中",
    S.MERGED: "已合并",
    S.CLOSED: "已结案",
}

ACTION_LABELS: dict[Action, str] = {
    Action.ROUTE: "派单",
    Action.ACCEPT: "签收",
    Action.NOTE: "添加备注",
    Action.REPLY: "答复市民",
    Action.RESOLVE: "办结",
    Action.RETURN: "退单",
    Action.REQUEST_EXTENSION: "申请延期",
    Action.DECIDE_EXTENSION: "审批延期",
    Action.PAUSE: "暂停计时",
    Action.RESUME: "恢复计时",
    Action.SURVEY: "回访",
    Action.REOPEN: "重新办理",
    Action.CLOSE: "结案",
}


class IllegalTransition(Exception):
    """An action that the ticket's state does not allow (answered with 409)."""

    def __init__(self, action: Action, state: TicketState) -> None:
        allowed = "、".join(STATE_LABELS[s] for s in sorted(ALLOWED[action]))
        super().__init__(
            f"工单当前状态为“{STATE_LABELS[state]}”，不能{ACTION_LABELS[action]}"
            f"（只有{allowed}的工单可以）"
        )
        self.action = action
        self.state = state


def check(action: Action, state: TicketState) -> None:
    """Raise IllegalTransition unless `action` may happen in `state`."""
    if state not in ALLOWED[action]:
        raise IllegalTransition(action, state)
