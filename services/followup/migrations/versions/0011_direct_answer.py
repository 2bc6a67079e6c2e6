"""直接答复: the knowledge-base article a consultation was answered with at intake

Revision ID: 0011_direct_answer
Revises: 0010_cohandling
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_direct_answer"
down_revision: str | None = "0010_cohandling"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("direct_article_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("direct_article_id")
