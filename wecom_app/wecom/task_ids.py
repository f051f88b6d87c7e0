"""Template card task_ids: unique for the app's whole life, not per database.

WeCom refuses a task_id its app has ever used ("任务id，同一个应用任务id不能重复，只能由
数字、字母和“_-@”组成，最长128字节", developer.work.weixin.qq.com/document/path/90236; the
answer is 42014 "taskid has existed or empty or exceed max len"). The database ids in a task_id
repeat in a fresh, restored or second (staging) database on the same app, so every
task_id starts with this installation's random prefix, made once and stored in
`app_instance`:

    <prefix>_d<directive>v<version><kind letter><batch>[@<row>-<tag>...]

`kind letter` is c (card), r (reminder), s (summary), n (notice). A batch the outbox
splits because some members are over their quota goes out as rows that add
`@<row>-<tag>` (outbox._child), once per split; a click is mapped back by cutting at
the first `@`. Task ids made before the prefix existed (`d1v1c1`) still parse.
"""

from __future__ import annotations

import dataclasses
import re
import secrets

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from wecom_app.db import utcnow
from wecom_app.models import AppInstance

MAX_BYTES = 128  # 90236
ALPHABET = re.compile(r"[0-9A-Za-z_\-@]+")  # 90236: digits, letters, _-@
PREFIX_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
PREFIX_LENGTH = 8  # 36^8 ≈ 2.8e12: two installations of one app will not meet
KIND_LETTERS = {"card": "c", "reminder": "r", "summary": "s", "notice": "n"}
_PARSE = re.compile(r"(?:(?P<prefix>[a-z0-9]{8})_)?d(?P<directive>\d+)v(?P<version>\d+)(?P<kind>[crsn])(?P<batch>\d+)"
                    r"(?P<splits>(?:@\d+-[0-9A-Za-z]+)*)")


@dataclasses.dataclass(frozen=True)
class TaskRef:
    """What a card's task_id says: whose installation, which directive, version and batch."""

    prefix: str | None  # None: made before the prefix existed
    directive_id: int
    version: int
    kind: str  # card | reminder | summary | notice
    batch_id: int
    splits: tuple[str, ...] = ()  # "<row>-<tag>" per split, oldest first

    @property
    def base(self) -> str:
        """The batch's own task_id (what DirectiveBatch.task_id holds)."""
        return make(self.prefix, self.directive_id, self.version, self.kind, self.batch_id)


def prefix(session: Session) -> str:
    """This installation's task_id prefix, made on first use. Race-safe: several processes
    may ask at once; one insert wins (primary key 1) and every one reads the winner's."""
    found = session.scalar(select(AppInstance.task_prefix).where(AppInstance.id == 1))
    if found:
        return found
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    new = _random()
    session.execute(insert(AppInstance).values(id=1, task_prefix=new, created_at=utcnow())
                    .on_conflict_do_nothing(index_elements=["id"]))
    return session.scalar(select(AppInstance.task_prefix).where(AppInstance.id == 1))


def rotate(session: Session) -> tuple[str | None, str]:
    """A new prefix for this installation (`wecom-app db new-task-prefix`): after restoring a
    backup, whose prefix the lost part of its history already used with the same ids. Cards
    already sent keep their task_ids (stored per batch), so their clicks still count."""
    old = session.scalar(select(AppInstance.task_prefix).where(AppInstance.id == 1))
    new = _random()
    if old is None:
        session.add(AppInstance(id=1, task_prefix=new, created_at=utcnow()))
    else:
        session.execute(update(AppInstance).where(AppInstance.id == 1).values(task_prefix=new, created_at=utcnow()))
    return old, new


def make(prefix: str | None, directive_id: int, version: int, kind: str, batch_id: int) -> str:
    task_id = f"d{directive_id}v{version}{KIND_LETTERS[kind]}{batch_id}"
    task_id = f"{prefix}_{task_id}" if prefix else task_id
    if len(task_id.encode()) > MAX_BYTES or not ALPHABET.fullmatch(task_id):
        raise ValueError(f"task_id {task_id!r} is not ≤ {MAX_BYTES} bytes of digits, letters and _-@ (90236)")
    return task_id


def _random() -> str:
    return "".join(secrets.choice(PREFIX_CHARS) for _ in range(PREFIX_LENGTH))


def parse(task_id: str) -> TaskRef | None:
    """The TaskRef of a task_id this app made (with or without split suffixes), else None."""
    match = _PARSE.fullmatch(task_id or "")
    if match is None:
        return None
    kinds = {letter: kind for kind, letter in KIND_LETTERS.items()}
    splits = tuple(s for s in match["splits"].split("@") if s)
    return TaskRef(match["prefix"], int(match["directive"]), int(match["version"]), kinds[match["kind"]],
                   int(match["batch"]), splits)


def base(task_id: str) -> str:
    """The batch's own task_id of a (possibly split) card's: everything before the first `@`."""
    return task_id.split("@", 1)[0]
