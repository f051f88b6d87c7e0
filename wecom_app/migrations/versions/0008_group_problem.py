"""group problem: the company's group size (people left out of a full group, 86006)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 14:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import wecom_app.db


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('chat_group') as batch:
        batch.add_column(sa.Column('problem', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('problem_detail', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('problem_since', wecom_app.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('chat_group') as batch:
        batch.drop_column('problem_since')
        batch.drop_column('problem_detail')
        batch.drop_column('problem')
