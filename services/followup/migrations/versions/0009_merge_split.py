"""并单 and 拆分: the router's near-duplicate suggestion, a split child's parent, a split's size

Revision ID: 0009_merge_split
Revises: 0008_knowledge
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_merge_split"
down_revision: str | None = "0008_knowledge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("duplicate_of", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("split_from", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("split_parts", sa.Integer(), nullable=True))
        batch.create_index("ix_tickets_split_from", ["split_from"])


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_split_from")
        batch.drop_column("split_parts")
        batch.drop_column("split_from")
        batch.drop_column("duplicate_of")
