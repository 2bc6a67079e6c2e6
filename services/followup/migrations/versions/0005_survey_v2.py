"""Survey v2: the contacted question; a unit's 不合理诉求 mark and the centre's decision

Revision ID: 0005_survey_v2
Revises: 0004_pauses_and_lookups
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_survey_v2"
down_revision: str | None = "0004_pauses_and_lookups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("unreasonable", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("unreasonable_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("surveys") as batch:
        batch.add_column(sa.Column("contacted", sa.Boolean(), nullable=True))


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("surveys") as batch:
        batch.drop_column("contacted")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("unreasonable_reason")
        batch.drop_column("unreasonable")
