"""archive pull: the cursor, archived messages, rooms seen, the permit list (issue 12 items 3, 4)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 17:45:00.000000
"""
from alembic import op
import sqlalchemy as sa
import wecom_app.db


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('archive_cursor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('corp_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('pulled_at', wecom_app.db.UTCDateTime(), nullable=True),
    sa.Column('notified_at', wecom_app.db.UTCDateTime(), nullable=True),
    sa.Column('newest_msgtime', wecom_app.db.UTCDateTime(), nullable=True),
    sa.Column('caught_up_at', wecom_app.db.UTCDateTime(), nullable=True),
    sa.Column('lease_until', wecom_app.db.UTCDateTime(), nullable=True),
    sa.Column('retry_at', wecom_app.db.UTCDateTime(), nullable=True),
    sa.Column('error', sa.String(length=32), nullable=True),
    sa.Column('error_detail', sa.Text(), nullable=True),
    sa.Column('error_key', sa.String(length=16), nullable=True),
    sa.Column('error_since', wecom_app.db.UTCDateTime(), nullable=True),
    sa.Column('error_count', sa.Integer(), nullable=False),
    sa.Column('lag_alerted_at', wecom_app.db.UTCDateTime(), nullable=True),
    sa.Column('permit_read_at', wecom_app.db.UTCDateTime(), nullable=True),
    sa.Column('permit_error', sa.Text(), nullable=True),
    sa.Column('created_at', wecom_app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', wecom_app.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('corp_id')
    )
    op.create_table('archive_permit_user',
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('read_at', wecom_app.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('userid')
    )
    op.create_table('archived_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('msgid', sa.String(length=128), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('publickey_ver', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('roomid', sa.String(length=64), nullable=True),
    sa.Column('sender', sa.String(length=64), nullable=True),
    sa.Column('tolist', sa.JSON(), nullable=True),
    sa.Column('msgtime', wecom_app.db.UTCDateTime(), nullable=True),
    sa.Column('msgtype', sa.String(length=32), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=True),
    sa.Column('known_type', sa.Boolean(), nullable=False),
    sa.Column('content', sa.Text(), nullable=True),
    sa.Column('raw', sa.Text(), nullable=True),
    sa.Column('encrypted', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('stored_at', wecom_app.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('msgid')
    )
    op.create_index('ix_archived_message_room_time', 'archived_message', ['roomid', 'msgtime'], unique=False)
    op.create_index(op.f('ix_archived_message_seq'), 'archived_message', ['seq'], unique=False)
    op.create_index(op.f('ix_archived_message_state'), 'archived_message', ['state'], unique=False)
    op.create_table('archive_room',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('roomid', sa.String(length=64), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('first_seen_at', wecom_app.db.UTCDateTime(), nullable=False),
    sa.Column('last_message_at', wecom_app.db.UTCDateTime(), nullable=True),
    sa.Column('messages', sa.Integer(), nullable=False),
    sa.Column('read_at', wecom_app.db.UTCDateTime(), nullable=True),
    sa.Column('read_due_at', wecom_app.db.UTCDateTime(), nullable=True),
    sa.Column('read_attempts', sa.Integer(), nullable=False),
    sa.Column('read_errcode', sa.Integer(), nullable=True),
    sa.Column('read_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['chat_group.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('roomid')
    )
    op.create_index(op.f('ix_archive_room_group_id'), 'archive_room', ['group_id'], unique=False)
    op.create_index(op.f('ix_archive_room_read_due_at'), 'archive_room', ['read_due_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_archive_room_read_due_at'), table_name='archive_room')
    op.drop_index(op.f('ix_archive_room_group_id'), table_name='archive_room')
    op.drop_table('archive_room')
    op.drop_index(op.f('ix_archived_message_state'), table_name='archived_message')
    op.drop_index(op.f('ix_archived_message_seq'), table_name='archived_message')
    op.drop_index('ix_archived_message_room_time', table_name='archived_message')
    op.drop_table('archived_message')
    op.drop_table('archive_permit_user')
    op.drop_table('archive_cursor')
