"""directive_batch: drop the columns written but never read (issue 11 item 6)

`outbox_id`, `msgid`, `response_code` and `sent_at` were copied from the outbox row
that carried the batch and never read: the outbox row itself (`subject =
"directive_batch:<id>"`, its `result`) is what delivery and the card updates read.
`response_code_used` was neither written nor read. Downgrade puts them back empty
(`response_code_used` false).

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-05 18:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import wecom_app.db


revision = '0015'
down_revision = '0013'
branch_labels = None
depends_on = None

DROPPED = ('outbox_id', 'msgid', 'response_code', 'response_code_used', 'sent_at')


def upgrade() -> None:
    with op.batch_alter_table('directive_batch', schema=None) as batch_op:
        for column in DROPPED:
            batch_op.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table('directive_batch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outbox_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('msgid', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('response_code', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('response_code_used', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('sent_at', wecom_app.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table('directive_batch', schema=None) as batch_op:
        batch_op.alter_column('response_code_used', existing_type=sa.Boolean(), server_default=None)
