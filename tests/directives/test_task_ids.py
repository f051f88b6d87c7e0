"""Card task_ids unique for the app's whole life (issue 9, item 10; R16): each installation's
random prefix (made once, race-safe, stable across restarts), two fresh databases on one
WeCom app (the emulator's state) both delivering without 42014, a reused task_id refused
with 42014, clicks mapped back through the prefix, and the task_id format's round trip."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from tests.plugins.database import fresh_database
from tests.directives.test_r16_directives import issue, receipts, task_of
from tests.plugins.world import seed_directory
from wecom_app.db import make_engine, make_sessionmaker
from wecom_app.directives import acks as directives_acks
from wecom_app.directives.delivery import batch_for_task
from wecom_app.models import AppInstance, OutboxAction
from wecom_app.settlers import SETTLERS
from wecom_app.wecom import outbox, task_ids

pytestmark = pytest.mark.both_databases  # the task_id prefix made race-safe with ON CONFLICT per dialect

# -- the format ---------------------------------------------------------------------------------


def test_a_task_id_round_trips_with_its_prefix_and_split_suffixes():
    made = task_ids.make("k3f9x2ab", 12, 3, "reminder", 4567)
    assert made == "k3f9x2ab_d12v3r4567"
    ref = task_ids.parse(made)
    assert (ref.prefix, ref.directive_id, ref.version, ref.kind, ref.batch_id, ref.splits) == (
        "k3f9x2ab", 12, 3, "reminder", 4567, ())
    split_twice = f"{made}@120-0a1b2c3d4e5f@130-abcdef012345"
    ref = task_ids.parse(split_twice)
    assert ref.base == made == task_ids.base(split_twice) and ref.splits == ("120-0a1b2c3d4e5f", "130-abcdef012345")


def test_a_task_id_made_before_the_prefix_existed_still_parses():
    ref = task_ids.parse("d1v1c1@7-abc")
    assert (ref.prefix, ref.directive_id, ref.batch_id, ref.base) == (None, 1, 1, "d1v1c1")


@pytest.mark.parametrize("task_id", ["", "directive_2024_001", "k3f9x2ab_d1v1x1", "K3F9X2AB_d1v1c1", "d1v1c1 "])
def test_a_task_id_this_app_did_not_make_does_not_parse(task_id):
    assert task_ids.parse(task_id) is None


def test_a_task_id_stays_within_wecoms_128_bytes_and_alphabet():
    longest = task_ids.make("zzzzzzzz", 2**63, 2**31, "notice", 2**63)
    assert len(longest.encode()) <= 128 and task_ids.ALPHABET.fullmatch(longest)
    with pytest.raises(ValueError, match="128 bytes"):
        task_ids.make("bad prefix", 1, 1, "card", 1)


# -- the prefix -----------------------------------------------------------------------------------


@pytest.fixture
def second_db_url(db_url, request, tmp_path):
    """A second freshly migrated database of the same kind as `db_url` (a staging copy, a restore)."""
    yield from fresh_database(request, tmp_path, "sqlite" if db_url.startswith("sqlite") else "postgresql", "second")


def _prefix_of(url: str) -> str:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as session:
            return task_ids.prefix(session)
    finally:
        engine.dispose()


def test_r16_the_prefix_is_made_once_and_stable_across_restarts_of_the_same_database(db_url, second_db_url):
    first = _prefix_of(db_url)
    assert len(first) == task_ids.PREFIX_LENGTH and first.isalnum()
    assert _prefix_of(db_url) == first  # the app restarted: a new engine, the same installation
    assert _prefix_of(second_db_url) != first  # a second database from the same migrations: its own


def test_r16_processes_asking_for_the_prefix_at_once_all_get_the_same_one(db_url):
    engines = [make_engine(db_url) for _ in range(4)]
    got, barrier = [], threading.Barrier(len(engines))

    def ask(engine):
        sessions = make_sessionmaker(engine)
        barrier.wait()
        with sessions.begin() as session:
            got.append(task_ids.prefix(session))

    threads = [threading.Thread(target=ask, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    with make_sessionmaker(engines[0])() as session:
        rows = session.scalars(select(AppInstance)).all()
    for engine in engines:
        engine.dispose()
    assert len(got) == 4 and len(set(got)) == 1 and [r.task_prefix for r in rows] == got[:1]


# -- two databases, one WeCom app ---------------------------------------------------------------


@pytest.fixture
def staging(world, second_db_url):
    """A second installation (its own fresh database) of the same app on the same WeCom (emulator state)."""
    import dataclasses

    from wecom_app.wecom.client import WeComClient

    engine = make_engine(second_db_url)
    sessions = make_sessionmaker(engine)
    settings = dataclasses.replace(world.settings, database_url=second_db_url)
    client = WeComClient(settings, sessions, clock=world.now, sleep=lambda _s: None, max_attempts=1)
    with sessions.begin() as session:
        seed_directory(session, world.state)
    yield SimpleNamespace(**{**vars(world), "settings": settings, "client": client, "sessions": sessions})
    client.close()
    engine.dispose()


def send_and_settle(w):
    stats = outbox.send_due(w.sessions, w.client, w.settings, w.calendar, w.now())
    with w.sessions.begin() as session:
        outbox.settle(session, w.now(), SETTLERS)
    return stats


def test_r16_two_fresh_databases_on_one_wecom_app_both_deliver_their_cards(world, staging):
    production, staged = issue(world), issue(staging)
    assert production == staged == 1  # the same database ids on both sides
    assert send_and_settle(world).sent == 1 and send_and_settle(staging).sent == 1  # no 42014 on either
    ours, theirs = task_of(world, production), task_of(staging, staged)
    assert ours != theirs and task_ids.parse(ours).base.split("_")[1] == task_ids.parse(theirs).base.split("_")[1]
    assert {r.status for r in receipts(staging, staged).values()} == {"delivered"}
    # a click maps back through the prefix: each installation knows only its own cards
    with world.sessions() as session:
        assert batch_for_task(session, ours).task_id == ours and batch_for_task(session, theirs) is None
    with world.sessions.begin() as session:
        assert directives_acks.click(session, world.settings, userid="lina", task_id=theirs, key="ack",
                                     response_code="", now=world.now()) == "unknown_task"
        assert directives_acks.click(session, world.settings, userid="lina", task_id=f"{ours}@9-0a1b2c", key="ack",
                                     response_code="", now=world.now()) == "counted"
    assert receipts(world, production)["lina"].status == "acknowledged"
    assert receipts(staging, staged)["lina"].status == "delivered"


def test_r16_a_database_that_reuses_a_task_id_is_refused_with_42014(world, staging):
    """What the prefix prevents: a restored copy that kept the prefix and reissues the same ids."""
    issue(world)
    send_and_settle(world)
    with world.sessions() as session:
        same = session.scalar(select(AppInstance.task_prefix))
    with staging.sessions.begin() as session:
        task_ids.prefix(session)
        session.execute(update(AppInstance).values(task_prefix=same))
    staging.clock.advance(60)
    issue(staging)
    assert send_and_settle(staging).failed == 1
    with staging.sessions() as session:
        row = session.scalar(select(OutboxAction).where(OutboxAction.subject.like("directive_batch:%")))
    assert (row.status, row.errcode) == ("failed", 42014)


def test_r16_after_a_restore_new_task_prefix_gives_new_ids_and_old_cards_still_count(world, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from tests.conftest import AES_KEY, CORP_ID, SECRET, TOKEN
    from wecom_app.cli import main

    old_directive = issue(world)
    send_and_settle(world)
    old_task = task_of(world, old_directive)
    monkeypatch.chdir(tmp_path)
    env = {"WECOM_CORP_ID": CORP_ID, "WECOM_AGENT_ID": "1000002", "WECOM_SECRET": SECRET, "WECOM_TOKEN": TOKEN,
           "WECOM_AES_KEY": AES_KEY, "SECRET_KEY": "cli-test-secret-key-123", "DATABASE_URL": world.settings.database_url}
    result = CliRunner().invoke(main, ["db", "new-task-prefix"], env=env, catch_exceptions=False)
    old_prefix = task_ids.parse(old_task).prefix
    assert result.exit_code == 0 and f"task_id prefix {old_prefix} → " in result.output
    new_directive = issue(world)
    send_and_settle(world)
    assert task_ids.parse(task_of(world, new_directive)).prefix not in (None, old_prefix)
    with world.sessions.begin() as session:
        assert directives_acks.click(session, world.settings, userid="lina", task_id=old_task, key="ack",
                                     response_code="", now=world.now()) == "counted"
