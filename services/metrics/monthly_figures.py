"""The monthly public report's volumes and deadlines, folded from the same envelopes as the fold.

`EventFold` keeps, per month, what the 三率 and the scoring need; the public report
(每月公开报告) also needs per Beijing calendar month: items received by channel, by district
and by first-level category, the places items name (for 每月一题, the month's top recurring
problems), and how many resolutions (办结) kept their deadline. This accumulator keeps those,
fed with the envelopes the fold accepted (`history.fold_log`), so both see each event once.

An item belongs to the month it was received in. Its category is the one of its latest
routing (a re-routing after a return may correct it): routing and ticket events come on other
topics than the item, in no guaranteed order across topics, so items, categories and places are
joined only when a month is asked for. A resolution belongs to the month it happened in; it is
late when the ticket's resolution limit had run out (a `breached` event with `clock:
resolution` since the ticket was last reopened) or it came after the ticket's last deadline.

Nothing personal is kept: a channel, a district, a category and a place name per item.
"""

from collections import Counter as Tally
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedbackloop.events import (
    Envelope,
    FeedbackReceived,
    FeedbackRouted,
    RoutingMethod,
    TicketEvent,
    TicketEventKind,
)
from feedbackloop.places import place_of
from services.metrics.rates import month_of

K = TicketEventKind
#: What an item without a known category is counted as.
UNCATEGORISED = "未分类"
#: Consultations answered on the spot (直接答复) are never routed, so they have no category.
ANSWERED_AT_INTAKE = "咨询（当场答复）"
NO_DISTRICT = "未注明"
ANSWERS = ("satisfied", "basically", "dissatisfied")


@dataclass
class Item:
    """What the report keeps of one received item."""

    month: str
    channel: str
    district: str
    place: str | None
    answered_at_intake: bool


@dataclass
class Deadline:
    """A ticket's resolution limit as its events say it, while it is open."""

    due_at: datetime | None = None
    breached: bool = False


class MonthlyFigures:
    """Volumes by channel, district and category, places and resolutions kept, per month."""

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        #: Ticket id -> (when, category) of its latest routing that named a category.
        self.categories: dict[str, tuple[datetime, str]] = {}
        self.deadlines: dict[str, Deadline] = {}
        #: Per month: resolutions on time and late.
        self.resolutions: dict[str, Tally[str]] = {}
        #: Per month: answered surveys, satisfied (满意, 基本满意) and solved (incl. partly).
        self.surveys: dict[str, Tally[str]] = {}

    def apply(self, event: Envelope[Any]) -> None:
        """Fold one event in (the caller drops copies, as `EventFold.apply` says)."""
        data = event.data
        if isinstance(data, FeedbackReceived):
            self._received(data)
        elif isinstance(data, FeedbackRouted):
            if data.method is not RoutingMethod.TRIAGE and data.category:
                self._categorise(data.feedback.ticket_id, data.routed_at, data.category)
        elif isinstance(data, TicketEvent):
            if data.category:
                self._categorise(data.ticket_id, data.occurred_at, data.category)
            self._deadline(data)
            self._survey(data)

    def _received(self, data: FeedbackReceived) -> None:
        if data.ticket_id in self.items:
            return  # the same item published again is still one item
        district = (data.location.district if data.location else None) or NO_DISTRICT
        self.items[data.ticket_id] = Item(
            month=month_of(data.received_at),
            channel=data.channel.value,
            district=district,
            place=place_of(f"{data.title or ''} {data.text}"),
            answered_at_intake=data.direct_answer is not None,
        )

    def _categorise(self, ticket_id: str, at: datetime, category: str) -> None:
        known = self.categories.get(ticket_id)
        if known is None or known[0] <= at:
            self.categories[ticket_id] = (at, category)

    def _deadline(self, data: TicketEvent) -> None:
        # One ticket's events share a partition of ticket.events, so they come in order.
        deadline = self.deadlines.setdefault(data.ticket_id, Deadline())
        if data.kind is K.REOPENED:
            deadline.breached = False  # a new round with a new limit
        elif data.kind is K.BREACHED and data.clock == "resolution":
            deadline.breached = True
        elif data.kind is K.RESOLVED:
            due = deadline.due_at or data.due_at
            late = deadline.breached or (due is not None and data.occurred_at > due)
            tally = self.resolutions.setdefault(month_of(data.occurred_at), Tally())
            tally["late" if late else "on_time"] += 1
        if data.due_at is not None and data.kind is not K.RESOLVED:
            deadline.due_at = data.due_at
        if data.state_to.value in ("closed", "merged"):
            del self.deadlines[data.ticket_id]

    def _survey(self, data: TicketEvent) -> None:
        # Every answer once, as the survey outcome counters of the fold count them.
        if data.kind in (K.SURVEYED, K.NO_RESPONSE) and data.satisfaction in ANSWERS:
            tally = self.surveys.setdefault(month_of(data.occurred_at), Tally())
            tally["answered"] += 1
            tally["satisfied"] += data.satisfaction in ("satisfied", "basically")
            tally["solved"] += data.solved in ("solved", "partly")

    def category_of(self, ticket_id: str) -> str:
        """An item's category as the report counts it."""
        known = self.categories.get(ticket_id)
        if known is not None:
            return known[1]
        item = self.items.get(ticket_id)
        return ANSWERED_AT_INTAKE if item and item.answered_at_intake else UNCATEGORISED

    def _of_month(self, month: str) -> list[tuple[str, Item]]:
        return [(tid, item) for tid, item in self.items.items() if item.month == month]

    def channels(self, month: str) -> Tally[str]:
        """Items received in the month, by channel."""
        return Tally(item.channel for _, item in self._of_month(month))

    def districts(self, month: str) -> Tally[str]:
        """Items received in the month, by district (未注明 where none was given)."""
        return Tally(item.district for _, item in self._of_month(month))

    def by_category(self, month: str) -> Tally[str]:
        """Items received in the month, by first-level category."""
        return Tally(self.category_of(tid) for tid, _ in self._of_month(month))

    def by_place(self, month: str) -> Tally[tuple[str, str]]:
        """Items received in the month that name a place, by (category, place)."""
        return Tally(
            (self.category_of(tid), item.place)
            for tid, item in self._of_month(month)
            if item.place is not None
        )

    def resolutions_of(self, month: str) -> Tally[str]:
        """The month's resolutions: `on_time` and `late`."""
        return Tally(self.resolutions.get(month, Tally()))

    def surveys_of(self, month: str) -> Tally[str]:
        """The month's answered surveys: `answered`, `satisfied` and `solved`."""
        return Tally(self.surveys.get(month, Tally()))
