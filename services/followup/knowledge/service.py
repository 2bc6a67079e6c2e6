"""The knowledge base's verbs: create, get, list, update, retire, search (keyword-only).

Search ranks valid, non-retired articles and past answered tickets (resolved or closed, with
a reply) by TF-IDF cosine on character 1-2 grams, as Chinese text is not segmented. A ticket
hit carries only its number and the unit's reply, never the citizen's words.
"""

from dataclasses import dataclass
from datetime import date, datetime

from sklearn.feature_extraction.text import TfidfVectorizer
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.followup.knowledge.models import Article
from services.followup.models import Ticket

#: How many past answered tickets, newest first, a search compares with.
TICKET_POOL = 2000
#: How many characters of an article or reply a hit shows.
SNIPPET = 160
#: Hits scoring below this are not similar enough to suggest.
MIN_SCORE = 0.05
ANSWERED = ("resolved", "closed")


@dataclass(frozen=True)
class Hit:
    """One search result: an article (id, title) or a past ticket (ticket_no, its reply)."""

    kind: str  # "article" | "ticket"
    id: int | None
    ticket_no: str | None
    title: str
    snippet: str
    score: float


def create(
    *,
    session: Session,
    department_code: str,
    title: str,
    body_md: str,
    valid_from: date | None,
    valid_until: date | None,
    actor: str,
    now: datetime,
) -> Article:
    """Store a new article of `department_code`."""
    article = Article(
        department_code=department_code,
        title=title,
        body_md=body_md,
        valid_from=valid_from,
        valid_until=valid_until,
        created_by=actor,
        updated_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(article)
    session.flush()
    return article


def get(*, session: Session, article_id: int, lock: bool = False) -> Article | None:
    """The article, or None."""
    query = select(Article).where(Article.id == article_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def _valid_on(today: date) -> list[object]:
    return [
        Article.retired_at.is_(None),
        or_(Article.valid_from.is_(None), Article.valid_from <= today),
        or_(Article.valid_until.is_(None), Article.valid_until >= today),
    ]


def list_articles(
    *,
    session: Session,
    department_code: str | None = None,
    valid_on: date | None = None,
    include_retired: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[Article]:
    """Articles, newest first: of one department (None: all), valid on a date (None: any)."""
    query = select(Article)
    if department_code is not None:
        query = query.where(Article.department_code == department_code)
    if valid_on is not None:
        query = query.where(*_valid_on(valid_on))  # type: ignore[arg-type]
    elif not include_retired:
        query = query.where(Article.retired_at.is_(None))
    query = query.order_by(Article.updated_at.desc(), Article.id.desc())
    return list(session.execute(query.limit(limit).offset(offset)).scalars())


def update(
    *,
    session: Session,
    article: Article,
    actor: str,
    now: datetime,
    title: str | None = None,
    body_md: str | None = None,
    valid_from: date | None = None,
    valid_until: date | None = None,
    dates_given: bool = False,
) -> Article:
    """Change an article's words, or (with `dates_given`) its validity dates."""
    if title is not None:
        article.title = title
    if body_md is not None:
        article.body_md = body_md
    if dates_given:
        article.valid_from, article.valid_until = valid_from, valid_until
    if article.valid_from and article.valid_until and article.valid_until < article.valid_from:
        raise ValueError("有效期的结束日期不能早于开始日期")
    article.updated_by, article.updated_at = actor, now
    return article


def retire(*, session: Session, article: Article, actor: str, now: datetime) -> Article:
    """Take an article out of search and lists (kept for the record)."""
    if article.retired_at is None:
        article.retired_at = now
        article.updated_by, article.updated_at = actor, now
    return article


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET else flat[: SNIPPET - 1] + "…"


def search(
    *,
    session: Session,
    text: str,
    today: date,
    limit: int = 3,
    exclude_ticket_no: str | None = None,
) -> list[Hit]:
    """The articles and past answers most similar to `text`, best first (at most `limit`)."""
    if not text.strip():
        return []
    articles = list(session.execute(select(Article).where(*_valid_on(today))).scalars())  # type: ignore[arg-type]
    answered = (
        select(Ticket.ticket_no, Ticket.title, Ticket.text, Ticket.reply)
        .where(Ticket.state.in_(ANSWERED), Ticket.reply.is_not(None), Ticket.reply != "")
        .order_by(Ticket.resolved_at.desc())
        .limit(TICKET_POOL)
    )
    tickets = [row for row in session.execute(answered) if row.ticket_no != exclude_ticket_no]
    # A past ticket is matched on the citizen's words and the reply, but shows only the reply.
    documents = [f"{a.title}\n{a.body_md}" for a in articles]
    documents += [f"{t.title or ''}\n{t.text}\n{t.reply}" for t in tickets]
    if not documents:
        return []
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
    try:
        matrix = vectorizer.fit_transform([*documents, text])
    except ValueError:  # nothing but stop characters: nothing to compare
        return []
    scores = (matrix[:-1] @ matrix[-1].T).toarray().ravel()  # rows are L2-normalised
    ranked = sorted(range(len(documents)), key=lambda i: -scores[i])
    hits: list[Hit] = []
    for i in ranked[:limit]:
        if scores[i] < MIN_SCORE:
            break
        if i < len(articles):
            a = articles[i]
            hits.append(Hit("article", a.id, None, a.title, _snippet(a.body_md), float(scores[i])))
        else:
            t = tickets[i - len(articles)]
            title = f"工单 {t.ticket_no} 的答复"
            hits.append(
                Hit("ticket", None, t.ticket_no, title, _snippet(t.reply), float(scores[i]))
            )
    return hits
