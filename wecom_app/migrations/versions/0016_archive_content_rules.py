"""archive content rules and activity: word lists for archive use only, the weekly tally per
room and sender (R4 off-hours, R17 activity), archived messages cited as evidence and
judged by the content rules (issue 12 items 5, 7)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 20:40:00.000000
"""
from alembic import op
import sqlalchemy as sa
import wecom_app.db


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('archive_word_list',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('rule', sa.String(length=8), nullable=False),
    sa.Column('words', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', wecom_app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', wecom_app.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('archive_tally',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('roomid', sa.String(length=64), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('messages', sa.Integer(), nullable=False),
    sa.Column('off_hours', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('roomid', 'week', 'userid', name='uq_archive_tally')
    )
    with op.batch_alter_table('archive_tally', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_archive_tally_week'), ['week'], unique=False)
    with op.batch_alter_table('archived_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cited_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('judged', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f('ix_archived_message_cited_by'), ['cited_by'], unique=False)
    # Messages pulled before this version are not judged after the fact: the backlog (content.judge_backlog)
    # is for groups registered after their messages were stored, not months of history at the first run
    # (a violation and a text to the custodian for each old hit).
    archived = sa.table('archived_message', sa.column('judged', sa.Boolean()))
    op.execute(archived.update().values(judged=True))


def downgrade() -> None:
    with op.batch_alter_table('archived_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_archived_message_cited_by'))
        batch_op.drop_column('judged')
        batch_op.drop_column('cited_by')
    with op.batch_alter_table('archive_tally', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_archive_tally_week'))
    op.drop_table('archive_tally')
    op.drop_table('archive_word_list')
