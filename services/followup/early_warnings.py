"""舆情预警 (early warning) at the centre: the signals worker's surges and hotspots are
remembered for the warning page, and each surge sends the operators on duty (值班) a notice.

The signals worker finds a category, district or place far above the same hour of its last
weeks (`SurgeDetected`) and bursts about one place (`HotspotDetected`), both on
feedback.hotspots. Followup reads them in its notifying loop: the alerts are stored once by
event id, and a surge is handed to the notifier as a staff notice for the recipient `duty`
of the `staff_webhooks` setting (a group robot's webhook), recorded by event id like every
notice, so a redelivered alert is not told twice. The notice names the key, the counts and
where to look, never a citizen or their words.
"""

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.events import (
    Channel,
    Envelope,
    HotspotDetected,
    SurgeDetected,
    decode,
    deterministic_event_id,
)
from feedbackloop.runtime.store_batches import StoreBatch
from services.followup.models import EarlyWarning, Ticket
from services.followup.notify import Notification, Notifier

#: The `staff_webhooks` recipient of surge notices: the operators on duty.
DUTY = "duty"
CONSUMER = "followup-warnings"
DIMENSION_LABELS = {"category": "类别", "district": "区域", "place": "地点"}
PAGE = "/workbench/warnings"


def create_warning(*, session: Session, event: Envelope[Any]) -> EarlyWarning | None:
    """Remember a surge or a hotspot; None if it was remembered already (a redelivery)."""
    if session.get(EarlyWarning, event.id) is not None:
        return None
    data = event.data
    if isinstance(data, SurgeDetected):
        row = EarlyWarning(
            event_id=event.id,
            kind="surge",
            dimension=data.dimension.value,
            key=data.key,
            count=data.count,
            expected=data.expected,
            heated_share=data.heated_share,
            ticket_nos=json.dumps(data.ticket_nos),
            trend=json.dumps(data.trend),
            baseline=json.dumps(data.baseline),
            first_at=data.first_at,
            last_at=data.last_at,
        )
    elif isinstance(data, HotspotDetected):
        row = EarlyWarning(
            event_id=event.id,
            kind="hotspot",
            dimension="place",
            key=data.place[:100],
            category=data.category,
            count=len(data.ticket_nos),
            ticket_nos=json.dumps(data.ticket_nos),
            first_at=data.first_at,
            last_at=data.last_at,
        )
    else:
        return None
    session.add(row)
    return row


def list_warnings(
    *, session: Session, kind: str, since: datetime, limit: int = 100
) -> list[EarlyWarning]:
    """Surges or hotspots whose latest item came after `since`, the latest first."""
    stmt = (
        select(EarlyWarning)
        .where(EarlyWarning.kind == kind, EarlyWarning.last_at >= since)
        .order_by(EarlyWarning.last_at.desc())
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


def list_near_duplicates(*, session: Session, since: datetime, limit: int = 50) -> list[Ticket]:
    """Tickets received since `since` that the router found nearly the same as an earlier one."""
    stmt = (
        select(Ticket)
        .where(Ticket.duplicate_of.is_not(None), Ticket.received_at >= since)
        .order_by(Ticket.received_at.desc())
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


def heading(warning: EarlyWarning) -> str:
    """How a warning is named for people: 地点 幸福小区."""
    return f"{DIMENSION_LABELS.get(warning.dimension, warning.dimension)} {warning.key}"


def duty_notice(
    *, event: Envelope[SurgeDetected], webhooks: dict[str, str], base_url: str
) -> Notification | None:
    """The notice a surge sends the operators on duty; None without their webhook."""
    url = webhooks.get(DUTY)
    data = event.data
    if not url or not data.ticket_nos:
        return None
    label = DIMENSION_LABELS.get(data.dimension.value, data.dimension.value)
    text = (
        f"【12345舆情预警】{label}“{data.key}”近1小时诉求{data.count}件，往常同期约"
        f"{data.expected:g}件，其中情绪激烈或紧急的占{data.heated_share:.0%}。"
        f"请研判处置：{base_url.rstrip('/')}{PAGE}"
    )
    return Notification(
        event_id=deterministic_event_id(event.id, f"staff/{DUTY}"),
        ticket_no=data.ticket_nos[-1],
        channel=Channel.WEB,
        purpose=f"surge:{data.dimension.value}",
        text=text,
        staff_url=url,
    )


def warnings_batch(
    *,
    sessions: sessionmaker[Session],
    notifier: Notifier,
    webhooks: dict[str, str],
    base_url: str,
) -> StoreBatch[Envelope[Any]]:
    """The handler of feedback.hotspots: alerts stored, surges told to the operators on duty."""

    def apply(session: Session, event: Envelope[Any]) -> None:
        if create_warning(session=session, event=event) is None:
            return
        if isinstance(event.data, SurgeDetected):
            notice = duty_notice(event=event, webhooks=webhooks, base_url=base_url)
            if notice is not None:
                notifier.deliver(notice)

    return StoreBatch(
        consumer=CONSUMER,
        sessions=sessions,
        decode=decode,
        apply=apply,
        # The signals worker's output: a record followup cannot read is not followup's to park.
        dead_letter_invalid=False,
    )
