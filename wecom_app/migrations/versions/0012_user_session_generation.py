"""user session generation: revocable workbench sessions (issue 10 item 6)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 15:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import wecom_app.db


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('user_session_generation',
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('changed_at', wecom_app.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('userid')
    )


def downgrade() -> None:
    op.drop_table('user_session_generation')
