"""Intake's store: its tables on any SQLAlchemy URL (SQLite by default)."""

from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.runtime import sql
from services.intake.models import Base


def create_store(database_url: str) -> sessionmaker[Session]:
    """The engine, intake's tables if missing, and a session factory."""
    return sql.create_store(database_url, Base.metadata)
