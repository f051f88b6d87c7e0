"""R16 evidence ledger: `ledger.verify` and `wecom-app ledger verify` find the first
row that was altered, inserted or deleted, and a chain rewritten after a published
head fails against that head."""

from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from wecom_app.cli import main
from wecom_app.directives import ledger
from wecom_app.models import LedgerEntry

from tests.conftest import AES_KEY, CORP_ID, SECRET, TOKEN

T0 = datetime(2027, 3, 1, 1, 30, tzinfo=timezone.utc)
EVENTS = ("delivered", "acknowledged", "reminded", "completed")
ROWS = 300


def fill(sessions, rows: int = ROWS) -> None:
    """`rows` events over 5 directives, as the directive code appends them."""
    with sessions.begin() as session:
        for n in range(rows):
            directive = n % 5 + 1
            at = T0 + timedelta(minutes=n, microseconds=n)
            if n < 5:
                ledger.append(session, "issued", at=at, directive_id=directive, actor="zhangsan", version=1,
                              title=f"通知 {directive}", content_hash="ab" * 32)
            else:
                ledger.append(session, EVENTS[n % 4], at=at, directive_id=directive, userid=f"user{n % 37}",
                              channel="card", due=(at + timedelta(days=1)).isoformat(), note="已阅 ✓")


def row(session, seq: int) -> LedgerEntry:
    return session.scalar(select(LedgerEntry).where(LedgerEntry.seq == seq))


def check(sessions, **kwargs) -> ledger.VerifyResult:
    with sessions() as session:
        return ledger.verify(session, **kwargs)


def execute(sessions, sql: str, **params) -> None:
    with sessions.begin() as session:
        session.execute(text(sql), params)


def json_param(sessions) -> str:
    """A bound JSON string as the data column takes it on either database."""
    with sessions() as session:
        return "CAST(:data AS JSON)" if session.get_bind().dialect.name == "postgresql" else ":data"


@pytest.mark.both_databases  # the JSON column read back hashes the same
def test_r16_intact_chain_verifies_with_its_head(sessions):
    fill(sessions)
    with sessions() as session:
        count, head = ledger.head(session)
    result = check(sessions, chunk=64)  # several chunks
    assert result.ok and result.problem is None
    assert result.rows == ROWS == count and result.head == (ROWS, head)
    assert check(sessions, expect_head=head).ok
    assert check(sessions, expect_head=head.upper()).ok


def test_r16_empty_chain_verifies(sessions):
    result = check(sessions, expect_head=ledger.GENESIS)
    assert result.ok and result.rows == 0 and result.head == (0, ledger.GENESIS)


@pytest.mark.both_databases  # a JSON write per dialect
def test_r16_edited_row_is_named_as_altered(sessions):
    fill(sessions)
    execute(sessions, f"UPDATE ledger_entry SET data = {json_param(sessions)} WHERE seq = 120",
            data='{"channel": "workbench"}')
    with sessions() as session:
        expected = row(session, 120)
    result = check(sessions, chunk=50)
    assert not result.ok and result.rows == 120 and result.head[0] == 119
    problem = result.problem
    assert (problem.kind, problem.seq, problem.id, problem.event, problem.directive_id) == (
        "altered", 120, expected.id, expected.event, expected.directive_id)
    assert "hash does not match its content" in problem.why


def test_r16_edited_actor_is_named_as_altered(sessions):
    fill(sessions)
    execute(sessions, "UPDATE ledger_entry SET actor = 'lisi' WHERE seq = 3")
    assert (check(sessions).problem.kind, check(sessions).problem.seq) == ("altered", 3)


def test_r16_deleted_middle_row_is_named_by_the_gap(sessions):
    fill(sessions)
    execute(sessions, "DELETE FROM ledger_entry WHERE seq = 200")
    problem = check(sessions, chunk=64).problem
    assert (problem.kind, problem.seq) == ("deleted", 201)
    assert "seq 200 is missing between seq 199 and this row" in problem.why


def test_r16_deleted_first_rows_are_named(sessions):
    fill(sessions)
    execute(sessions, "DELETE FROM ledger_entry WHERE seq IN (1, 2)")
    problem = check(sessions).problem
    assert (problem.kind, problem.seq) == ("deleted", 3) and "seq 1-2 is missing" in problem.why


def test_r16_deleted_row_with_later_rows_renumbered_is_named(sessions):
    fill(sessions)
    execute(sessions, "DELETE FROM ledger_entry WHERE seq = 150")
    execute(sessions, "UPDATE ledger_entry SET seq = -(seq - 1) WHERE seq > 150")
    execute(sessions, "UPDATE ledger_entry SET seq = -seq WHERE seq < 0")
    problem = check(sessions).problem
    assert (problem.kind, problem.seq) == ("deleted", 150)
    assert "computed when it was seq 151" in problem.why


def forge(sessions, at_seq: int) -> int:
    """Put a well-formed row in at `at_seq`, moving the later rows up by one, as a forger
    who knows the hash rule would; returns the forged row's id."""
    execute(sessions, "UPDATE ledger_entry SET seq = -(seq + 1) WHERE seq >= :seq", seq=at_seq)
    execute(sessions, "UPDATE ledger_entry SET seq = -seq WHERE seq < 0")
    with sessions.begin() as session:
        before = row(session, at_seq - 1)
        forged = LedgerEntry(seq=at_seq, directive_id=2, event="acknowledged", actor="system", userid="user9",
                             data={"channel": "card"}, at=before.at + timedelta(seconds=1), prev_hash=before.hash)
        forged.hash = ledger.chain_hash(before.hash, ledger.entry_content(forged))
        session.add(forged)
        session.flush()
        return forged.id


def test_r16_forged_row_put_in_between_is_named_as_inserted(sessions):
    fill(sessions)
    forged_id = forge(sessions, 90)
    problem = check(sessions, chunk=89).problem  # the forged row ends a chunk
    assert (problem.kind, problem.seq, problem.id, problem.event, problem.directive_id) == (
        "inserted", 90, forged_id, "acknowledged", 2)
    assert "links to seq 89, skipping this one" in problem.why and "renumbered" in problem.why


def test_r16_forged_row_with_an_unissued_seq_is_named_as_inserted(sessions):
    fill(sessions)
    with sessions.begin() as session:
        last = row(session, ROWS)
        forged = LedgerEntry(seq=ROWS + 3, directive_id=1, event="completed", actor="system", userid="user1",
                             data={}, at=last.at, prev_hash=last.hash)
        forged.hash = ledger.chain_hash(last.hash, ledger.entry_content(forged))
        session.add(forged)
    problem = check(sessions).problem
    assert (problem.kind, problem.seq) == ("inserted", ROWS + 3)


def test_r16_row_written_back_later_is_named_by_its_id(sessions):
    """A row deleted and written back verbatim keeps every hash but not its place in
    the order of appends, which ids follow."""
    fill(sessions, 60)
    with sessions.begin() as session:
        old = row(session, 50)
        copy = {c: getattr(old, c) for c in ("seq", "directive_id", "event", "actor", "userid", "data", "at",
                                              "prev_hash", "hash")}
        session.delete(old)
        session.flush()
        again = LedgerEntry(**copy)
        session.add(again)
        session.flush()
        again_id = again.id
    problem = check(sessions).problem
    assert (problem.kind, problem.seq, problem.id) == ("inserted", 50, again_id)
    assert "larger than the next row's" in problem.why


def rewrite_from(sessions, seq: int) -> None:
    """Edit one row and recompute every later hash: the chain is consistent again."""
    with sessions.begin() as session:
        rows = session.scalars(select(LedgerEntry).where(LedgerEntry.seq >= seq).order_by(LedgerEntry.seq)).all()
        prev = row(session, seq - 1).hash
        rows[0].data = {**rows[0].data, "channel": "workbench"}
        for entry in rows:
            entry.prev_hash = prev
            entry.hash = prev = ledger.chain_hash(prev, ledger.entry_content(entry))


def test_r16_rewritten_chain_passes_alone_but_not_against_an_earlier_head(sessions):
    fill(sessions, 200)
    with sessions() as session:
        _, earlier = ledger.head(session)
    fill(sessions, 100)
    rewrite_from(sessions, 150)
    with sessions() as session:
        _, now = ledger.head(session)
    assert check(sessions).ok
    assert check(sessions, expect_head=now).ok
    result = check(sessions, expect_head=earlier)
    assert not result.ok and result.rows == 300
    assert result.problem.kind == "truncated"
    assert f"no row has the hash {earlier}: the chain was truncated or rewritten after that head" in result.problem.why


def test_r16_truncated_chain_fails_against_an_earlier_head(sessions):
    fill(sessions)
    with sessions() as session:
        _, head = ledger.head(session)
    execute(sessions, "DELETE FROM ledger_entry WHERE seq > 250")
    assert check(sessions).ok
    assert check(sessions, expect_head=head).problem.kind == "truncated"


# ---- the command line ---------------------------------------------------------------------------------------------

@pytest.fixture
def env(tmp_path, monkeypatch, db_url):
    monkeypatch.chdir(tmp_path)  # no stray .env
    return {
        "WECOM_CORP_ID": CORP_ID, "WECOM_AGENT_ID": "1000002", "WECOM_SECRET": SECRET, "WECOM_TOKEN": TOKEN,
        "WECOM_AES_KEY": AES_KEY, "SECRET_KEY": "cli-test-secret-key-123", "DATABASE_URL": db_url,
    }


def run(env, *args):
    return CliRunner().invoke(main, ["ledger", "verify", *args], env=env, catch_exceptions=False)


def test_r16_cli_ledger_verify_ok_then_names_the_altered_row(env, sessions):
    fill(sessions, 40)
    with sessions() as session:
        _, head = ledger.head(session)
        directive = row(session, 17).directive_id
    result = run(env)
    assert result.exit_code == 0 and result.stdout.strip() == f"ledger OK: 40 rows, head {head}"
    assert run(env, "--head", head).exit_code == 0
    execute(sessions, "UPDATE ledger_entry SET userid = 'nobody' WHERE seq = 17")
    result = run(env)
    assert result.exit_code == 1
    assert "row seq 17 (id " in result.output and f"directive {directive}): likely altered" in result.output
    assert "intact up to seq 16" in result.output


def test_r16_cli_ledger_verify_head_not_in_chain_fails(env, sessions):
    fill(sessions, 10)
    result = run(env, "--head", "f" * 64)
    assert result.exit_code == 1 and "truncated or rewritten after that head" in result.output


def test_r16_cli_ledger_verify_refuses_a_malformed_head(env):
    result = run(env, "--head", "not-a-hash")
    assert result.exit_code == 2 and "--head" in result.output


def test_r16_cli_ledger_verify_on_an_empty_chain(env):
    result = run(env)
    assert result.exit_code == 0 and result.stdout.strip() == f"ledger OK: 0 rows, head {ledger.GENESIS}"


def test_r16_cli_ledger_verify_refuses_an_unmigrated_database(env, tmp_path):
    result = run(dict(env, DATABASE_URL=f"sqlite:///{tmp_path}/empty.db"))
    assert result.exit_code == 3 and "wecom-app db upgrade" in result.output


@pytest.mark.both_databases  # the lock is PostgreSQL's advisory lock, SQLite's writer lock
def test_r16_appends_under_one_lock_link_up_across_a_rolled_back_savepoint(sessions):
    """A dispatcher's batch takes the lock once and appends many times, each event in a
    savepoint: an append rolled back with its savepoint leaves no gap and no dangling link."""
    at = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    with sessions.begin() as session:
        ledger.lock(session)
        ledger.append(session, "issued", at=at, directive_id=1, actor="wangfang")
        savepoint = session.begin_nested()
        ledger.append(session, "acknowledged", at=at, directive_id=1, actor="lina", userid="lina")
        savepoint.rollback()
        with session.begin_nested():
            ledger.append(session, "acknowledged", at=at, directive_id=1, actor="chenjing", userid="chenjing")
        ledger.append(session, "completed", at=at, directive_id=1, actor="chenjing", userid="chenjing")
    with sessions() as session:
        assert [(r.seq, r.actor) for r in session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq))] == [
            (1, "wangfang"), (2, "chenjing"), (3, "chenjing")]
        assert ledger.verify(session).ok
