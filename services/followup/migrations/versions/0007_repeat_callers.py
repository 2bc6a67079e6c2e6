"""Repeat callers: a keyed hash of who called, and the ticket a repeat is linked to

Revision ID: 0007_repeat_callers
Revises: 0006_return_review
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_repeat_callers"
down_revision: str | None = "0006_return_review"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("caller_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("repeat_of", sa.String(length=36), nullable=True))
        batch.create_index("ix_tickets_caller_key", ["caller_key"])


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_caller_key")
        batch.drop_column("repeat_of")
        batch.drop_column("caller_key")
