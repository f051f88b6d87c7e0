"""instructions given in a group (R16, issue 12 item 6): instruction_offer, and a directive's origin

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 20:40:00.000000
"""
from alembic import op
import sqlalchemy as sa
import wecom_app.db


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('instruction_offer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('msgid', sa.String(length=128), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('sender', sa.String(length=64), nullable=False),
    sa.Column('sent_at', wecom_app.db.UTCDateTime(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('mention_all', sa.Boolean(), nullable=False),
    sa.Column('mentioned', sa.JSON(), nullable=False),
    sa.Column('unmatched', sa.JSON(), nullable=False),
    sa.Column('marker', sa.String(length=32), nullable=True),
    sa.Column('task_id', sa.String(length=128), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('offered_at', wecom_app.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', wecom_app.db.UTCDateTime(), nullable=False),
    sa.Column('tapped_at', wecom_app.db.UTCDateTime(), nullable=True),
    sa.Column('directive_id', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['directive_id'], ['directive.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['group_id'], ['chat_group.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('msgid'),
    sa.UniqueConstraint('task_id')
    )
    with op.batch_alter_table('instruction_offer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_instruction_offer_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_instruction_offer_status'), ['status'], unique=False)
    # Plain ADD COLUMN, never a batch copy of `directive`: on SQLite (foreign keys on) a batch
    # recreates the table, and dropping the old one cascades to every receipt, version and batch
    # (ON DELETE CASCADE). No foreign key on origin_group_id: it is evidence, like `issuer`.
    op.add_column('directive', sa.Column('origin_group_id', sa.Integer(), nullable=True))
    op.add_column('directive', sa.Column('origin', sa.JSON(), nullable=True))


def downgrade() -> None:
    # SQLite (3.35+) drops the columns in place: no batch copy of `directive` (see upgrade)
    op.drop_column('directive', 'origin')
    op.drop_column('directive', 'origin_group_id')
    with op.batch_alter_table('instruction_offer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_instruction_offer_status'))
        batch_op.drop_index(batch_op.f('ix_instruction_offer_group_id'))
    op.drop_table('instruction_offer')
