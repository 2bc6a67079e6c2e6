"""公开: the citizen's publication consent and the centre's withholding on tickets; the board

Revision ID: 0013_publication
Revises: 0012_early_warnings
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from feedbackloop.runtime.sql import UTCDateTime

revision: str = "0013_publication"
down_revision: str | None = "0012_early_warnings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("tickets") as batch:
        # Tickets opened before consent was asked for were never agreed to: false.
        batch.add_column(
            sa.Column(
                "publication_consent", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(sa.Column("withheld_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("withheld_by", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("withheld_reason", sa.Text(), nullable=True))
    op.create_table(
        "public_items",
        sa.Column("ticket_id", sa.String(length=36), primary_key=True),
        sa.Column("ticket_no", sa.String(length=20), nullable=False, unique=True),
        sa.Column("title", sa.String(length=100), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=True),
        sa.Column("district", sa.String(length=50), nullable=True),
        sa.Column("department_code", sa.String(length=48), nullable=False),
        sa.Column("department_name", sa.String(length=100), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("solved", sa.String(length=8), nullable=True),
        sa.Column("satisfaction", sa.String(length=16), nullable=True),
        sa.Column("published_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_public_items_resolved", "public_items", ["resolved_at"])
    op.create_index("ix_public_items_category", "public_items", ["category"])
    op.create_index("ix_public_items_district", "public_items", ["district"])
    op.create_index("ix_public_items_department_code", "public_items", ["department_code"])


def downgrade() -> None:
    """Undo this revision."""
    for name in ("department_code", "district", "category", "resolved"):
        op.drop_index(f"ix_public_items_{name}", table_name="public_items")
    op.drop_table("public_items")
    with op.batch_alter_table("tickets") as batch:
        for column in ("withheld_reason", "withheld_by", "withheld_at", "publication_consent"):
            batch.drop_column(column)
