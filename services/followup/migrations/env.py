"""Alembic environment: runs followup's migrations on the connection the caller passes in."""

from alembic import context

# The notifier's tables live on the same Base; imported so that every table is compared.
from services.followup.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
