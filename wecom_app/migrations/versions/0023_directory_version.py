"""directory_version: a stamp every write to the directory bumps (issue 14 item 3)

One row; a trigger on each directory table (department, wecom_user, user_department,
tag, tag_member) adds one to `version` in the writing transaction, whoever writes
(an ORM flush, a bulk statement, another process, psql). A process keeps its scope
index and people-search index as long as the version it reads is the one they were
built at. PostgreSQL: BEFORE … FOR EACH STATEMENT, so a transaction takes the row's
lock before any directory row's (one order, no deadlock between two directory
writers) and a bulk write bumps once per statement. SQLite: AFTER … FOR EACH ROW
(SQLite has no statement triggers; its single writer needs no order).

Note for later migrations: SQLite's batch_alter_table recreates a table and drops its
triggers; a migration that batch-alters one of these tables must call `install()` again.

Revision ID: 0023
Revises: 0017
Create Date: 2026-12-05 20:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0017'
branch_labels = None
depends_on = None

TABLES = ('department', 'wecom_user', 'user_department', 'tag', 'tag_member')
BUMP = "UPDATE directory_version SET version = version + 1 WHERE id = 1"


def install() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE OR REPLACE FUNCTION directory_version_bump() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN {BUMP}; RETURN NULL; END $$")
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_directory_version ON {table}")
            op.execute(f"CREATE TRIGGER {table}_directory_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION directory_version_bump()")
        return
    for table in TABLES:
        for verb in ('insert', 'update', 'delete'):
            op.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_{verb}_directory_version AFTER {verb.upper()} "
                       f"ON {table} BEGIN {BUMP}; END")


def upgrade() -> None:
    op.create_table(
        'directory_version',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.execute("INSERT INTO directory_version (id, version) VALUES (1, 0)")
    install()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_directory_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS directory_version_bump()")
    else:
        for table in TABLES:
            for verb in ('insert', 'update', 'delete'):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{verb}_directory_version")
    op.drop_table('directory_version')
