"""Archive fixtures (issue 12): the emulator's conversation archive and the app set up to pull it.

- `rsa_keys`: two RSA-2048 private keys by publickey_ver (1, 2), once per module.
- `arc`: the world with the archive on: the emulator archives under key version 1 (it knows 2
  too) for room ROOM (行政部-日常沟通; wangfang, lina, chenjing in the permit list); the app holds
  key 1 only. `.archive` (the emulator's), `.sdk` (EmulatorSdk), `.keys`, `.keydir`, `.client`,
  `.settings` with the archive's three settings.
- `governed`: `arc` with ROOM registered as an internal group (custodian sunli, not an admin),
  an archive-only list 涉密项目代号 (R12: 天穹, 北斗七号) and a sensitive-word rule 不文明用语 (傻瓜).
- `run_pull(arc, **kw)`, `pull(arc)` (with the job's READERS), `read_rooms(arc)`, `group_of(arc)`,
  `register(arc, **fields)`, `violations(arc)` (those the archive found), `at(y, m, d, …)` (a
  Shanghai time as a timestamp), `write_key(folder, ver, key)`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from wecom_app.archive import content
from wecom_app.archive import pull as archive_pull
from wecom_app.archive.job import READERS
from wecom_app.archive.keys import load_private_keys
from wecom_app.archive.rooms import read_due
from wecom_app.archive.sdk import EmulatorSdk
from wecom_app.governance import registry
from wecom_app.models import Group, SensitiveWordRule, Violation
from wecom_app.sandbox.emulator.archive import enable_archive
from wecom_app.wecom.client import WeComClient

ARCHIVE_SECRET = "test-archive-secret-0123456789"
ROOM = "wrArchiveRoom0000000000000001"


@pytest.fixture(scope="module")
def rsa_keys():
    return {ver: rsa.generate_private_key(public_exponent=65537, key_size=2048) for ver in (1, 2)}


def write_key(folder, ver, key) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{ver}.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))


@pytest.fixture
def arc(world, tmp_path, rsa_keys, emulator_url):
    """The emulator archives under key version 1 (it also knows 2); the app holds key 1 only."""
    archive = enable_archive(world.state, ARCHIVE_SECRET, {v: k.public_key() for v, k in rsa_keys.items()})
    archive.publickey_ver = 1
    archive.permit_users(["wangfang", "lina", "chenjing"])
    archive.add_room(ROOM, "行政部-日常沟通", "wangfang", ["wangfang", "lina", "chenjing"])
    write_key(tmp_path / "keys", 1, rsa_keys[1])
    settings = dataclasses.replace(world.settings, archive_secret=ARCHIVE_SECRET,
                                   archive_private_keys=str(tmp_path / "keys"), finance_sdk="emulator")
    client = WeComClient(settings, world.sessions, clock=world.now, sleep=lambda _s: None, max_attempts=1)
    sdk = EmulatorSdk(emulator_url, settings.corp_id, ARCHIVE_SECRET)
    yield SimpleNamespace(**{**vars(world), "settings": settings, "client": client}, archive=archive, sdk=sdk,
                          keys=load_private_keys(tmp_path / "keys"), keydir=tmp_path / "keys")
    sdk.close()
    client.close()


def run_pull(arc, **kw):
    return archive_pull.pull(arc.sessions, arc.sdk, arc.keys, arc.settings, arc.now(), client=arc.client, **kw)


def read_rooms(arc):
    return read_due(arc.sessions, arc.client, arc.settings, arc.now())


def group_of(arc, roomid=ROOM) -> Group:
    with arc.sessions() as session:
        group = session.scalar(select(Group).where(Group.chat_id == roomid))
        session.expunge_all()
        return group


def register(arc, **fields) -> int:
    values = dict(kind="internal", chat_id=ROOM, name="行政部-日常沟通", owner="wangfang", custodian="lina",
                  scope={"departments": [3]}, allow_external=False, robot_webhook=None, actor="api:office", now=arc.now())
    values.update(fields)
    with arc.sessions.begin() as session:
        return registry.register_group(session, arc.settings, **values).id



SHANGHAI = timezone(timedelta(hours=8))


def pull(arc):
    return run_pull(arc, readers=READERS)


def at(*args) -> float:
    return datetime(*args, tzinfo=SHANGHAI).timestamp()


@pytest.fixture
def governed(arc):
    """The room registered as an internal group (custodian sunli, not an admin), with the office's lists."""
    arc.archive.post(ROOM, "lina", "大家好")
    pull(arc)
    read_rooms(arc)
    group_id = register(arc, custodian="sunli")
    with arc.sessions.begin() as session:
        content.save_list(session, name="涉密项目代号", rule="R12", words=["天穹", "北斗七号"], actor="zhangwei",
                          now=arc.now())
        session.add(SensitiveWordRule(name="不文明用语", words=["傻瓜"], sync_status="synced", created_by="zhangwei"))
    arc.group_id = group_id
    return arc


def violations(arc) -> list[Violation]:
    """The violations the archive's content rules opened."""
    with arc.sessions() as session:
        rows = session.scalars(select(Violation).where(Violation.detected_by == "archive").order_by(Violation.id)).all()
        session.expunge_all()
        return rows
