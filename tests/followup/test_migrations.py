"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from feedbackloop.runtime.sql import engine_of
from services.followup.database import open_store
from services.followup.models import Base


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_migrations_match_the_models(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'f.db'}"
        if database == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    sessions = open_store(url)
    open_store(url)  # upgrading an up-to-date store is a no-op
    with engine_of(sessions).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
