"""`users.kept_session_id` is `kept_login_id`: a login is a login, a session is the database's.

Revision ID: 0005_kept_login_id
Revises: 0004_login_lifetime_links
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_kept_login_id"
down_revision: str | None = "0004_login_lifetime_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column(
            "kept_session_id", new_column_name="kept_login_id", existing_type=sa.Uuid()
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column(
            "kept_login_id", new_column_name="kept_session_id", existing_type=sa.Uuid()
        )
