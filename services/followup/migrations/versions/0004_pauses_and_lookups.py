"""pause_requests: a department's pause waits for the centre; lookup_audit: agents' look-ups

Revision ID: 0004_pauses_and_lookups
Revises: 0003_ticket_media
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from feedbackloop.runtime.sql import UTCDateTime

revision: str = "0004_pauses_and_lookups"
down_revision: str | None = "0003_ticket_media"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "pause_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column("requested_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pause_requests_ticket_id", "pause_requests", ["ticket_id"])
    op.create_table(
        "lookup_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_no", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("matched", sa.Boolean(), nullable=False),
        sa.Column("looked_up_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lookup_audit_ticket_no", "lookup_audit", ["ticket_no"])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_lookup_audit_ticket_no", table_name="lookup_audit")
    op.drop_table("lookup_audit")
    op.drop_index("ix_pause_requests_ticket_id", table_name="pause_requests")
    op.drop_table("pause_requests")
