"""直接答复 (direct answers) at intake: finding an article, and turning it into the answer.

Shared by the agent page (a 12345 agent chooses the article) and the WeChat channel (the best
article answers by itself when it is similar enough). Both go through `KnowledgeBase`, so a
followup that is down or slow only means the item is filed for a department as usual.
"""

from dataclasses import dataclass, field

from feedbackloop.events import DirectAnswer
from services.intake.knowledge import (
    Hit,
    KnowledgeBase,
    KnowledgeUnavailable,
    beijing_today,
    plain_text,
)

#: The longest answer an item carries (the event's limit).
MAX_ANSWER = 5000


class ArticleGone(Exception):
    """The article was retired, is out of its validity dates, or does not exist."""


@dataclass(frozen=True)
class Lookup:
    """What the knowledge base offers for a question: articles first, then past answers."""

    articles: list[Hit] = field(default_factory=list)
    tickets: list[Hit] = field(default_factory=list)
    #: The knowledge base could not be asked (not configured, down or slow).
    unavailable: bool = False


def look_up(knowledge: KnowledgeBase | None, text: str, *, limit: int = 6) -> Lookup:
    """Search the knowledge base; an empty, `unavailable` lookup when it cannot answer."""
    if knowledge is None:
        return Lookup(unavailable=True)
    try:
        hits = knowledge.search(text, limit=limit)
    except KnowledgeUnavailable:
        return Lookup(unavailable=True)
    # Snippets are cut from Markdown: shown as the agent will read the answer out.
    shown = [h.model_copy(update={"snippet": plain_text(h.snippet)}) for h in hits]
    return Lookup(
        articles=[h for h in shown if h.kind == "article" and h.id is not None],
        tickets=[h for h in shown if h.kind == "ticket" and h.ticket_no],
    )


def answer_with(
    knowledge: KnowledgeBase, article_id: int, *, answered_by: str, score: float | None = None
) -> DirectAnswer:
    """The direct answer an article gives today; ArticleGone or KnowledgeUnavailable."""
    article = knowledge.article(article_id)
    if article is None or not article.valid_on(beijing_today()):
        raise ArticleGone(article_id)
    return DirectAnswer(
        article_id=article.id,
        article_title=article.title[:100],
        department_code=article.department_code[:48],
        answer=plain_text(article.body_md, limit=MAX_ANSWER) or article.title,
        answered_by=answered_by[:80],
        score=None if score is None else min(max(score, 0.0), 1.0),
    )


def confident_answer(
    knowledge: KnowledgeBase | None, text: str, *, min_score: float, answered_by: str
) -> DirectAnswer | None:
    """The best article's answer if it is similar enough to answer by itself, else None."""
    found = look_up(knowledge, text, limit=3)
    if knowledge is None or found.unavailable or not found.articles:
        return None
    best = max(found.articles, key=lambda hit: hit.score)
    if best.score < min_score or best.id is None:
        return None
    try:
        return answer_with(knowledge, best.id, answered_by=answered_by, score=best.score)
    except (ArticleGone, KnowledgeUnavailable):
        return None
