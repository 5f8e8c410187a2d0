"""Logins with an absolute lifetime; one-time links bound to the address they were mailed to
(and void after an e-mail change).

Revision ID: 0004_login_lifetime_links
Revises: 0003_products_orders
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_login_lifetime_links"
down_revision: str | None = "0003_products_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_changed_at", sa.DateTime(timezone=True), nullable=True)
        )

    # Existing logins count from their newest token; existing links belong to the address the
    # account has now (both the closest values the old rows can give).
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("login_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE refresh_tokens SET login_at = created_at")
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.alter_column("login_at", existing_type=sa.DateTime(timezone=True), nullable=False)

    with op.batch_alter_table("one_time_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=320), nullable=True))
    op.execute(
        "UPDATE one_time_tokens SET email = "
        "(SELECT users.email FROM users WHERE users.id = one_time_tokens.user_id)"
    )
    with op.batch_alter_table("one_time_tokens", schema=None) as batch_op:
        batch_op.alter_column("email", existing_type=sa.String(length=320), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("one_time_tokens", schema=None) as batch_op:
        batch_op.drop_column("email")
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_column("login_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email_changed_at")
