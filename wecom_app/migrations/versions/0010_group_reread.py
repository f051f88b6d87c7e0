"""group re-read queue (issue 9 item 3)

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-05 14:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
import wecom_app.db


revision = '0010'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('group_reread',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('want_version', sa.String(length=64), nullable=True),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('due_at', wecom_app.db.UTCDateTime(), nullable=False),
    sa.Column('requested_at', wecom_app.db.UTCDateTime(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['chat_group.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('group_id')
    )
    with op.batch_alter_table('group_reread', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_reread_due_at'), ['due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('group_reread', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_reread_due_at'))
    op.drop_table('group_reread')
