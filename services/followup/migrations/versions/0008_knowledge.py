"""Knowledge base: departments' articles with validity dates

Revision ID: 0008_knowledge
Revises: 0007_repeat_callers
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from feedbackloop.runtime.sql import UTCDateTime

revision: str = "0008_knowledge"
down_revision: str | None = "0007_repeat_callers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "knowledge_articles",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("department_code", sa.String(length=48), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("body_md", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_knowledge_articles_department_code", "knowledge_articles", ["department_code"]
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_knowledge_articles_department_code", table_name="knowledge_articles")
    op.drop_table("knowledge_articles")
