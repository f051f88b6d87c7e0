"""webhook/send outbox rows name their group, not the robot's key (issue 10 item 3)

Older code wrote an announcement's post to a group robot as
`{"key": <robot key>, "body": ...}`: a bearer secret in clear text in the outbox for
ever (sent and failed rows included). This rewrites every such row, whatever its
status, to `{"group_id": ..., "body": ...}`, the group taken from the announcement
delivery the row settles (`subject` "announcement:<delivery id>"). The sender
decrypts the group's key when it sends. A row whose group cannot be found keeps no
key either (`group_id` null): if it is still to go, the sender fails it with a
reason an operator sees on the announcement.

Downgrade leaves the rows as they are: the old code cannot send them, and putting
keys back in clear text is what this migration is for.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 15:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

outbox = sa.table("outbox_action", sa.column("id", sa.Integer), sa.column("kind", sa.String),
                  sa.column("payload", sa.JSON), sa.column("subject", sa.String))
delivery = sa.table("announcement_delivery", sa.column("id", sa.Integer), sa.column("group_id", sa.Integer))


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(outbox.c.id, outbox.c.payload, outbox.c.subject)
                        .where(outbox.c.kind == "webhook/send")).all()
    for row_id, payload, subject in rows:
        if not isinstance(payload, dict) or "key" not in payload:
            continue
        group_id = None
        name, _, number = (subject or "").partition(":")
        if name == "announcement" and number.isascii() and number.isdigit():
            group_id = bind.scalar(sa.select(delivery.c.group_id).where(delivery.c.id == int(number)))
        rewritten = {k: v for k, v in payload.items() if k != "key"}
        rewritten["group_id"] = group_id
        bind.execute(sa.update(outbox).where(outbox.c.id == row_id).values(payload=rewritten))


def downgrade() -> None:
    pass
