"""tickets, audit trail, clocks, surveys, credentials, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import feedbackloop.runtime.sql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""

    op.create_table(
        "credentials",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("department_code", sa.String(length=48), nullable=True),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "disabled_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("sent_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_unsent", ["sent_at", "id"], unique=False)

    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column(
            "processed_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("ticket_no", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=True),
        sa.Column("department_code", sa.String(length=48), nullable=False),
        sa.Column("department_name", sa.String(length=100), nullable=False),
        sa.Column("routing_method", sa.String(length=16), nullable=False),
        sa.Column("routing_confidence", sa.Float(), nullable=False),
        sa.Column(
            "received_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("routed_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=False),
        sa.Column("policy", sa.String(length=32), nullable=False),
        sa.Column("complex", sa.Boolean(), nullable=False),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column(
            "accepted_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "resolved_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("closed_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("wechat_openid", sa.String(length=64), nullable=True),
        sa.Column("phone_masked", sa.String(length=32), nullable=True),
        sa.Column("phone_sealed", sa.Text(), nullable=True),
        sa.Column("callback_consent", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_no"),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tickets_department_code"), ["department_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_tickets_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_state"), ["state"], unique=False)

    op.create_table(
        "clocks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "started_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("warn_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=True),
        sa.Column("warned_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fired_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paused_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.create_index("ix_clocks_running", ["stopped_at", "next_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_clocks_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "extension_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(length=36), nullable=False),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column(
            "requested_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("approved", sa.Boolean(), nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("decided_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("extension_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_extension_requests_ticket_id"), ["ticket_id"], unique=False
        )

    op.create_table(
        "surveys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("ticket_id", sa.String(length=36), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column(
            "invited_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "expires_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "answered_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("solved", sa.String(length=8), nullable=True),
        sa.Column("satisfaction", sa.String(length=16), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_surveys_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "ticket_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("state_from", sa.String(length=16), nullable=True),
        sa.Column("state_to", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "occurred_at", feedbackloop.runtime.sql.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("ticket_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_audit_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:
    """Undo this revision."""

    with op.batch_alter_table("ticket_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_audit_ticket_id"))

    op.drop_table("ticket_audit")
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_surveys_ticket_id"))

    op.drop_table("surveys")
    with op.batch_alter_table("extension_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_extension_requests_ticket_id"))

    op.drop_table("extension_requests")
    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clocks_ticket_id"))
        batch_op.drop_index("ix_clocks_running")

    op.drop_table("clocks")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tickets_state"))
        batch_op.drop_index(batch_op.f("ix_tickets_due_at"))
        batch_op.drop_index(batch_op.f("ix_tickets_department_code"))

    op.drop_table("tickets")
    op.drop_table("processed_events")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_unsent")

    op.drop_table("outbox")
    op.drop_table("credentials")
