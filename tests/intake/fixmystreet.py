"""A poller of the `servicerequestupdates` extension that behaves as FixMyStreet's fetch does.

FixMyStreet asks for the updates between the last time it looked and now, applies each
update it has not seen (by `update_id`) to its report, and starts the next poll where the
previous one ended, a little earlier so that nothing committed late slips between two
windows. Its reports know only `open` and `closed` (fixed), and show the update's text.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

#: How far back each poll reaches before the previous one's end, as FixMyStreet overlaps.
OVERLAP = timedelta(minutes=5)
CLOSED = {"closed", "fixed", "duplicate"}


@dataclass
class Report:
    """FixMyStreet's copy of one request."""

    status: str = "open"
    status_notes: str | None = None
    updated: datetime | None = None
    #: (status, text) of every update applied, as the report's page lists them.
    history: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass
class Poller:
    """The local state a FixMyStreet site keeps of a city's requests."""

    http: httpx.Client
    root: str
    since: datetime
    reports: dict[str, Report] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def poll(self, now: datetime) -> int:
        """One fetch from `since` to `now`; how many new updates were applied."""
        params = {"start_date": self.since.isoformat(), "end_date": now.isoformat()}
        reply = self.http.get(f"{self.root}/servicerequestupdates.json", params=params)
        reply.raise_for_status()
        applied = 0
        for update in reply.json()["service_request_updates"]:
            if update["update_id"] in self.seen:
                continue
            self.seen.add(update["update_id"])
            moment = datetime.fromisoformat(update["updated_datetime"])
            report = self.reports.setdefault(update["service_request_id"], Report())
            status = "closed" if update["status"] in CLOSED else "open"
            report.history.append((status, update["description"]))
            if report.updated is None or moment >= report.updated:
                report.status = status
                report.status_notes = update["description"]
                report.updated = moment
            applied += 1
        self.since = now - OVERLAP
        return applied
