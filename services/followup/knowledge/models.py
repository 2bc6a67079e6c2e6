"""The knowledge base's table: one article of a department, with its validity dates."""

from datetime import date, datetime

from sqlalchemy import Date, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from feedbackloop.runtime.sql import UTCDateTime
from services.followup.models import Base


class Article(Base):
    """A department's answer to a common question; valid between two Beijing dates."""

    __tablename__ = "knowledge_articles"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    department_code: Mapped[str] = mapped_column(String(48), index=True)
    title: Mapped[str] = mapped_column(String(100))
    body_md: Mapped[str] = mapped_column(Text)
    #: Beijing dates, both inclusive; None: no bound.
    valid_from: Mapped[date | None] = mapped_column(Date, default=None)
    valid_until: Mapped[date | None] = mapped_column(Date, default=None)
    created_by: Mapped[str] = mapped_column(String(80))
    updated_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
