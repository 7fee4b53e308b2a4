"""annotation question vectors on their rows; prompt messages of a message

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 23:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message_annotations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("question_embedding", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("embedding_model", sa.String(length=255), nullable=True))

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("message")

    with op.batch_alter_table("message_annotations", schema=None) as batch_op:
        batch_op.drop_column("embedding_model")
        batch_op.drop_column("question_embedding")
