"""Return review: a unit's 退单 waits on the ticket for the centre's decision

Revision ID: 0006_return_review
Revises: 0005_survey_v2
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from feedbackloop.runtime.sql import UTCDateTime

revision: str = "0006_return_review"
down_revision: str | None = "0005_survey_v2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("return_code", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("return_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("return_requested_by", sa.String(length=120), nullable=True))
        batch.add_column(
            sa.Column("return_requested_at", UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_index("ix_tickets_return_code", ["return_code"])


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_return_code")
        batch.drop_column("return_requested_at")
        batch.drop_column("return_requested_by")
        batch.drop_column("return_reason")
        batch.drop_column("return_code")
