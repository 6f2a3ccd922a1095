"""notifications: staff e-mail, quiet hours and mute; outbox states and acknowledgements

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("email_mode", sa.String(length=8), server_default="off", nullable=False)
        )
        batch_op.add_column(sa.Column("quiet_hours", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("muted_until", sa.DateTime(), nullable=True))

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sending_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("subject", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("urgent", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("ack_window", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("ack_state", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("received_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("displayed_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_ack_state"), ["ack_state"], unique=False)
        batch_op.create_index(
            "ix_outbox_recipient_status", ["recipient_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_recipient_status")
        batch_op.drop_index(batch_op.f("ix_outbox_ack_state"))
        for column in (
            "displayed_at",
            "received_at",
            "ack_state",
            "ack_window",
            "urgent",
            "subject",
            "sending_at",
        ):
            batch_op.drop_column(column)

    with op.batch_alter_table("staff", schema=None) as batch_op:
        for column in ("muted_until", "quiet_hours", "email_mode", "email"):
            batch_op.drop_column(column)
