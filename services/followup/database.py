"""Followup's store: the engine, sessions, and the schema brought up to date by Alembic."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.runtime.sql import create_store, engine_of, lock_schema

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """Alembic's configuration for followup's migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def open_store(database_url: str) -> sessionmaker[Session]:
    """Sessions on followup's store, migrated to the newest schema first."""
    sessions = create_store(database_url)
    config = alembic_config()
    with engine_of(sessions).begin() as connection:
        lock_schema(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return sessions
