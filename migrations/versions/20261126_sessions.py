"""sessions: users.token_epoch, revoked tokens and the security log (issue 8, items 2 and 6)

Revision ID: 0003_sessions
Revises: 0002_render
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import cases.models.base


revision = "0003_sessions"
down_revision = "0002_render"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_epoch", sa.Integer(), server_default="0", nullable=False))

    op.create_table(
        "revoked_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("revoked_at", cases.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", cases.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_revoked_tokens_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_revoked_tokens")),
    )
    op.create_index(op.f("ix_revoked_tokens_user_id"), "revoked_tokens", ["user_id"], unique=False)
    op.create_index(op.f("ix_revoked_tokens_expires_at"), "revoked_tokens", ["expires_at"], unique=False)

    op.create_table(
        "security_log",
        sa.Column("id", BigId, nullable=False),
        sa.Column("at", cases.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("user_id", BigId, nullable=True),
        sa.Column("actor_id", BigId, nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=8), nullable=True),
        sa.Column("path", sa.String(length=300), nullable=True),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("locked_until", cases.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_security_log_user_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_security_log_actor_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_log")),
    )
    op.create_index(op.f("ix_security_log_at"), "security_log", ["at"], unique=False)
    op.create_index("ix_security_log_kind_username_at", "security_log", ["kind", "username", "at"], unique=False)
    op.create_index("ix_security_log_kind_client_at", "security_log", ["kind", "client", "at"], unique=False)
    op.create_index("ix_security_log_user_at", "security_log", ["user_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_table("security_log")
    op.drop_table("revoked_tokens")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("token_epoch")
