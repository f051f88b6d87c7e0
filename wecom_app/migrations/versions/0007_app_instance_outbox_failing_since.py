"""app instance: the random task_id prefix of this installation (issue 9, item 10);
outbox_action.failing_since: since when WeCom has kept failing a row (item 9)

The row is not made here but on first use (wecom_app/task_ids.py): a database copied
from a migrated template, or restored and then given a new row, must not share a prefix.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 14:20:00
"""
from alembic import op
import sqlalchemy as sa
import wecom_app.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_instance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', wecom_app.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('task_prefix')
    )
    with op.batch_alter_table('outbox_action', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failing_since', wecom_app.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_action', schema=None) as batch_op:
        batch_op.drop_column('failing_since')
    op.drop_table('app_instance')
