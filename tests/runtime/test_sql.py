"""SQL stores: tables created once even when replicas start together."""

from concurrent.futures import ThreadPoolExecutor

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
