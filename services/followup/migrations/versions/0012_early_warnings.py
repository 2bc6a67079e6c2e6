"""舆情预警: the signals worker's surges and hotspots, for the centre's warning page

Revision ID: 0012_early_warnings
Revises: 0011_direct_answer
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from feedbackloop.runtime.sql import UTCDateTime

revision: str = "0012_early_warnings"
down_revision: str | None = "0011_direct_answer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "early_warnings",
        sa.Column("event_id", sa.String(length=64), primary_key=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=True),
        sa.Column("heated_share", sa.Float(), nullable=True),
        sa.Column("ticket_nos", sa.Text(), nullable=False),
        sa.Column("trend", sa.Text(), nullable=True),
        sa.Column("baseline", sa.Text(), nullable=True),
        sa.Column("first_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_early_warnings_last_at", "early_warnings", ["last_at"])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_early_warnings_last_at", table_name="early_warnings")
    op.drop_table("early_warnings")
