"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

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


def test_replicas_starting_together_on_an_empty_postgresql_database_all_migrate(
    postgres_url: str,
) -> None:
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: open_store(postgres_url), range(4)))
    with stores[0]() as session:
        assert session.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
