"""SQL stores: tables created once even when replicas start together."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import inspect

from feedbackloop.runtime.sql import create_store, engine_of
from services.router.models import Base


def test_replicas_starting_together_on_an_empty_postgresql_database_all_create_it(
    postgres_url: str,
) -> None:
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: create_store(postgres_url, Base.metadata), range(4)))
    tables = set(inspect(engine_of(stores[0])).get_table_names())
    assert tables >= set(Base.metadata.tables)


def _create_sqlite_store(url: str) -> bool:
    create_store(url, Base.metadata)
    return True


def test_replicas_starting_together_on_a_new_sqlite_file_all_create_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'router.db'}"
    # Processes, as replicas are: SQLite's lock is between connections of any process.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(4, mp_context=context) as pool:
        assert all(pool.map(_create_sqlite_store, [url] * 8))
    tables = set(inspect(engine_of(create_store(url))).get_table_names())
    assert tables >= set(Base.metadata.tables)
