"""report indexes: the tickets' time and status indexes also carry the columns the
reports group and filter by, so a report over a period reads the index alone

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 04:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the columns of visible_to() (storage/access.py) and of the reports' groups
_SCOPE = ("kind", "department_id", "priority", "target_staff_id", "creator_id")
COVERING = {
    "ix_tickets_created_report": ("created_at", *_SCOPE, "taken_at", "closed_at"),
    "ix_tickets_closed_report": ("closed_at", *_SCOPE),
    "ix_tickets_open_report": ("status", *_SCOPE),
    # with the id, the overdue list's first rows are picked from the index alone
    "ix_tickets_due_report": ("status", "due", *_SCOPE, "id"),
}
REPLACED = {
    "ix_tickets_created_at": ("created_at",),
    "ix_tickets_closed_at": ("closed_at",),
    "ix_tickets_status_due": ("status", "due"),
}


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        for name in REPLACED:
            batch.drop_index(name)
        for name, columns in COVERING.items():
            batch.create_index(name, list(columns))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        for name in COVERING:
            batch.drop_index(name)
        for name, columns in REPLACED.items():
            batch.create_index(name, list(columns))
