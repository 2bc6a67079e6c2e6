"""followup's knowledge base, as intake asks it over HTTP (直接答复, direct answers).

Intake never imports followup: it calls followup's workbench API with an operator credential
of its own (`knowledge_token`) and a short timeout. Any failure (followup down, slow, the
credential refused, a reply of the wrong shape) is `KnowledgeUnavailable`, and the caller
files the item as usual: the knowledge base may only ever save work, never lose an item.

The citizen's words go in a POST body, not a URL, so they stay out of access logs, and
personal numbers are masked before they leave intake.
"""

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from services.intake.privacy import mask_personal_numbers

log = logging.getLogger(__name__)
BEIJING = timezone(timedelta(hours=8))
SEARCH = "/api/v1/workbench/knowledge/search"
ARTICLES = "/api/v1/workbench/articles"


class KnowledgeUnavailable(Exception):
    """The knowledge base could not answer in time; file the item as usual."""


class Hit(BaseModel):
    """A search hit: an article (id) or a past answered ticket's reply (ticket_no)."""

    kind: str
    id: int | None = None
    ticket_no: str | None = None
    title: str
    snippet: str
    score: float


class Article(BaseModel):
    """An article as followup shows it."""

    id: int
    department_code: str
    title: str
    body_md: str
    valid_from: date | None = None
    valid_until: date | None = None
    retired_at: datetime | None = None

    def valid_on(self, day: date) -> bool:
        """Whether the article may be given as an answer on a (Beijing) day."""
        if self.retired_at is not None:
            return False
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_until is None or day <= self.valid_until
        )


@dataclass(frozen=True)
class KnowledgeBase:
    """A client of followup's knowledge base."""

    client: httpx.Client

    @classmethod
    def connect(
        cls, *, base_url: str, token: str, timeout: float, transport: httpx.BaseTransport | None
    ) -> "KnowledgeBase":
        """A client with the credential and a timeout on every phase of each call."""
        client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )
        return cls(client=client)

    def search(self, text: str, *, limit: int = 5) -> list[Hit]:
        """Articles and past answers similar to the text, best first."""
        body = {"q": mask_personal_numbers(text)[:2000], "limit": limit}
        found = self._call("POST", SEARCH, json=body)
        try:
            return [Hit.model_validate(hit) for hit in found]
        except (TypeError, ValidationError) as exc:
            raise KnowledgeUnavailable("unexpected search reply") from exc

    def article(self, article_id: int) -> Article | None:
        """One article, or None if there is none by that id."""
        try:
            return Article.model_validate(self._call("GET", f"{ARTICLES}/{article_id}"))
        except _NotFound:
            return None
        except ValidationError as exc:
            raise KnowledgeUnavailable("unexpected article reply") from exc

    def close(self) -> None:
        """Let go of the connections."""
        self.client.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            reply = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            # Only the kind of failure: never the URL's query or the body.
            log.warning("knowledge base unreachable: %s", type(exc).__name__)
            raise KnowledgeUnavailable(type(exc).__name__) from exc
        if reply.status_code == 404:
            raise _NotFound
        if reply.status_code != 200:
            log.warning("knowledge base answered %s", reply.status_code)
            raise KnowledgeUnavailable(f"HTTP {reply.status_code}")
        try:
            return reply.json()
        except ValueError as exc:
            raise KnowledgeUnavailable("not JSON") from exc


class _NotFound(Exception):
    pass


def beijing_today() -> date:
    """Today in Beijing, the day article validity is judged on."""
    return datetime.now(BEIJING).date()


_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]*)\)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
_BULLET = re.compile(r"^\s*[-*+]\s+", re.MULTILINE)


def plain_text(markdown: str, *, limit: int | None = None) -> str:
    """An article's Markdown as plain text for a chat message or an agent to read out."""
    text = _LINK.sub(
        lambda m: f"{m.group(1)}（{m.group(2)}）" if m.group(2) else m.group(1), markdown
    )
    text = _BULLET.sub("· ", _HEADING.sub("", text))
    text = _EMPHASIS.sub("", text)
    text = "\n".join(line.rstrip() for line in text.strip().splitlines())
    text = re.sub(r"\n{3,}", "\n\n", text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
