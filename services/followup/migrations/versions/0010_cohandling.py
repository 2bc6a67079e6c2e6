"""主办/协办: co-handling units of a ticket, and their limits on the clocks table

Revision ID: 0010_cohandling
Revises: 0009_merge_split
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from feedbackloop.runtime.sql import UTCDateTime

revision: str = "0010_cohandling"
down_revision: str | None = "0009_merge_split"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "ticket_cohandlers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.String(length=36), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("department_code", sa.String(length=48), nullable=False),
        sa.Column("department_name", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("assigned_by", sa.String(length=80), nullable=False),
        sa.Column("assigned_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("part", sa.Text(), nullable=True),
    )
    op.create_index("ix_ticket_cohandlers_ticket_id", "ticket_cohandlers", ["ticket_id"])
    op.create_index("ix_cohandlers_unit", "ticket_cohandlers", ["department_code", "state"])
    with op.batch_alter_table("clocks") as batch:
        batch.add_column(sa.Column("cohandler_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_clocks_cohandler", "ticket_cohandlers", ["cohandler_id"], ["id"]
        )


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("clocks") as batch:
        batch.drop_constraint("fk_clocks_cohandler", type_="foreignkey")
        batch.drop_column("cohandler_id")
    op.drop_index("ix_cohandlers_unit", table_name="ticket_cohandlers")
    op.drop_index("ix_ticket_cohandlers_ticket_id", table_name="ticket_cohandlers")
    op.drop_table("ticket_cohandlers")
