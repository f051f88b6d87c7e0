"""Full directory sync and the stale-row job against the WeCom emulator over HTTP."""

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from handlers import router
from jobs.directory_sync import refresh_stale
from wecom_app.callbacks.dispatcher import dispatch_pending
from wecom_app.callbacks.events import parse_event
from wecom_app.directory.full_sync import full_sync
from wecom_app.directory.mirror import apply_user
from wecom_app.models import Department, InboxEvent, Tag, TagMember, User, UserDepartment
from wecom_app.models.directory import STATUS_ACTIVE, STATUS_LEFT
from wecom_app.wecom.client import WeComClient
from wecom_app.wecom.errors import WeComError

from tests.conftest import make_settings
from tests.plugins.sandbox import CONTACT_SECRET

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["app", "contacts"])
def wecom(request, emulator_url, sessions, db_url):
    """A client on the app's secret (user/list per department) or the 通讯录同步 one (list_id + get)."""
    extra = {"contact_secret": CONTACT_SECRET} if request.param == "contacts" else {}
    client = WeComClient(make_settings(api_base=emulator_url, database_url=db_url, **extra), sessions,
                         sleep=lambda s: None)
    yield client
    client.close()


@pytest.fixture
def app_client(emulator_url, sessions, db_url):
    client = WeComClient(make_settings(api_base=emulator_url, database_url=db_url), sessions, sleep=lambda s: None)
    yield client
    client.close()


def count(sessions, model, *where):
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_full_sync_mirrors_the_demo_company(sessions, wecom, sandbox_state):
    stages = []
    counts = full_sync(sessions, wecom, NOW, lambda stage, done, total: stages.append((stage, done, total)))
    assert counts.complete and counts.departments == len(sandbox_state.departments)
    assert counts.users == len(sandbox_state.users) and counts.tags == 2 and counts.left == 0
    assert count(sessions, User) == len(sandbox_state.users)
    with sessions() as session:
        xuchao = session.get(User, "xuchao")
        departments = set(session.scalars(select(UserDepartment.department_id).where(UserDepartment.userid == "xuchao")))
        assert departments == {5, 6, 7} and xuchao.main_department == 5 and xuchao.direct_leader == ["wujun"]
        hujie = session.scalar(select(UserDepartment).where(UserDepartment.userid == "hujie"))
        assert hujie.is_leader and session.get(User, "zhongwen").status == STATUS_LEFT
        assert session.get(Department, 6).parentid == 5
        assert set(session.scalars(select(TagMember.userid).where(TagMember.tag_id == 1))) == {"wangfang", "lina"}
    assert stages[0] == ("departments", 9, 9) and stages[-1][0] == "tags"
    assert all(done <= total for _, done, total in stages)


def test_r1_full_sync_marks_users_no_longer_returned_as_left(sessions, wecom, sandbox_state):
    full_sync(sessions, wecom, NOW)
    del sandbox_state.users["tony"]
    counts = full_sync(sessions, wecom, NOW.replace(hour=3))
    assert counts.left == 1
    with sessions() as session:
        assert session.get(User, "tony").status == STATUS_LEFT and session.get(User, "tony").left_at is not None


def test_r1_full_sync_completes_when_the_contact_token_is_refused_details(sessions, wecom, sandbox_state):
    """A server set up today: the 通讯录同步 token gets 48009 on user/get and department/list
    (90196, 90208). The sync reads userids with it (list_id, 96067) and every detail with
    the app's token, so it completes; without a contact secret it reads the visible range."""
    assert not sandbox_state.contact_ip_grandfathered
    counts = full_sync(sessions, wecom, NOW)
    assert counts.complete and counts.users == len(sandbox_state.users) and counts.invisible == 0
    assert count(sessions, User, User.stale.is_(True)) == 0
    used = {(c["path"], c["token"]) for c in sandbox_state.calls() if c["path"] != "gettoken"}
    assert all(token == "app" for path, token in used if path != "user/list_id")
    assert (("user/list_id", "contact") in used) == bool(wecom.settings.contact_secret)


def test_full_sync_keeps_listed_users_outside_the_visible_range(sessions, sandbox_state, emulator_url, db_url):
    """list_id names everyone; user/get on the app's token answers 60011 outside its range: kept, not read."""
    client = WeComClient(make_settings(api_base=emulator_url, database_url=db_url, contact_secret=CONTACT_SECRET),
                         sessions, sleep=lambda s: None)
    full_sync(sessions, client, NOW)
    sandbox_state.agent["allow_partys"]["partyid"] = [2]  # the visible range shrank to one department
    counts = full_sync(sessions, client, NOW.replace(hour=3))
    client.close()
    outside = set(sandbox_state.users) - sandbox_state.visible_users()
    assert counts.complete and counts.invisible == len(outside) > 10 and counts.left == counts.unconfirmed == 0


def test_full_sync_falls_back_to_the_visible_range_when_list_id_is_refused(sessions, sandbox_state, emulator_url,
                                                                          db_url):
    sandbox_state.faults.add("user/list_id", "errcode", errcode=60020, count=1)  # the contact secret's IP untrusted
    client = WeComClient(make_settings(api_base=emulator_url, database_url=db_url, contact_secret=CONTACT_SECRET),
                         sessions, sleep=lambda s: None)
    counts = full_sync(sessions, client, NOW)
    client.close()
    assert counts.complete and counts.users == len(sandbox_state.users)
    assert sandbox_state.calls("user/list")


def test_full_sync_twice_changes_nothing(sessions, wecom):
    first = full_sync(sessions, wecom, NOW)
    second = full_sync(sessions, wecom, NOW.replace(hour=3))
    assert (second.users, second.left, second.departments_deleted) == (first.users, 0, 0)


def test_failed_department_read_changes_nothing(sessions, app_client, sandbox_state):
    with sessions.begin() as session:
        apply_user(session, {"userid": "ghost", "name": "幽灵", "status": 1}, 0, stale=False)
    sandbox_state.faults.add("department/list", "errcode", errcode=45033, count=1)
    with pytest.raises(WeComError):
        full_sync(sessions, app_client, NOW)
    assert count(sessions, User, User.status == STATUS_LEFT) == 0


def test_failed_user_read_does_not_mark_anyone_left(sessions, app_client, sandbox_state):
    with sessions.begin() as session:
        apply_user(session, {"userid": "ghost", "name": "幽灵", "status": 1}, 0, stale=False)
    sandbox_state.faults.add("user/list", "errcode", errcode=45033, count=1)
    counts = full_sync(sessions, app_client, NOW)
    assert not counts.complete and counts.left == 0
    with sessions() as session:
        assert session.get(User, "ghost").status == STATUS_ACTIVE


def test_many_missing_users_are_confirmed_one_by_one_not_marked_left(sessions, app_client, sandbox_state):
    full_sync(sessions, app_client, NOW)
    sandbox_state.agent["allow_partys"]["partyid"] = [2]  # the visible range shrank: most users vanish
    counts = full_sync(sessions, app_client, NOW.replace(hour=3))
    assert counts.left == 0 and counts.unconfirmed > 10
    assert count(sessions, User, User.stale.is_(True)) == counts.unconfirmed


def test_r1_minimal_callback_marks_stale_then_the_job_reads_the_user(sessions, wecom, sandbox_state):
    """The emulator's default 通讯录同步 callback is the minimal form (UserID, Department: 90970):
    the job re-reads the user with user/get on the app's token, never the contact one."""
    full_sync(sessions, wecom, datetime.fromtimestamp(sandbox_state.now() - 60, timezone.utc))
    xml = sandbox_state.user_update("tony", department=[8], status=2, position="工程师")
    assert "<Status>" not in xml and "<Position>" not in xml
    event = parse_event(xml)
    later = datetime.fromtimestamp(event.create_time + 5, timezone.utc)
    with sessions.begin() as session:
        session.add(InboxEvent(dedupe_key=event.dedupe_key(), source="contacts", event=event.event, msg_type="event",
                               change_type=event.change_type, create_time=event.create_time, payload=xml,
                               received_at=later, next_attempt_at=later))
    assert dispatch_pending(sessions, router, make_settings(), later).done == 1
    with sessions() as session:
        tony = session.get(User, "tony")
        assert tony.stale and tony.status == STATUS_ACTIVE and tony.main_department == 8
    counts = refresh_stale(sessions, wecom, later)
    assert counts.users == 1
    with sessions() as session:
        tony = session.get(User, "tony")
        assert (tony.stale, tony.status, tony.position) == (False, 2, "工程师")
    assert {c["token"] for c in sandbox_state.calls("user/get")} == {"app"}


def test_r1_stale_user_unknown_to_wecom_is_marked_left(sessions, app_client):
    with sessions.begin() as session:
        apply_user(session, {"userid": "nobody"}, 0, stale=True)
    counts = refresh_stale(sessions, app_client, NOW)
    assert counts.left == 1
    with sessions() as session:
        assert session.get(User, "nobody").status == STATUS_LEFT and not session.get(User, "nobody").stale


def test_stale_tags_are_read_and_unknown_tags_deleted(sessions, app_client):
    with sessions.begin() as session:
        session.add_all([Tag(id=2, name="", stale=True), Tag(id=99, name="旧标签", stale=True),
                         TagMember(tag_id=99, userid="tony")])
    assert refresh_stale(sessions, app_client, NOW).tags == 2
    with sessions() as session:
        assert session.get(Tag, 2).name == "销售骨干" and not session.get(Tag, 2).stale
        assert set(session.scalars(select(TagMember.userid).where(TagMember.tag_id == 2))) == {
            "hujie", "zhengming", "zhuxia"}
        assert session.get(Tag, 99) is None
    assert count(sessions, TagMember, TagMember.tag_id == 99) == 0


def test_refresh_stops_on_a_rate_limit_and_keeps_rows_stale(sessions, app_client, sandbox_state):
    with sessions.begin() as session:
        for userid in ("tony", "hujie"):
            apply_user(session, {"userid": userid}, 0, stale=True)
    sandbox_state.faults.add("user/get", "errcode", errcode=45009, count=1)
    counts = refresh_stale(sessions, app_client, NOW)
    assert counts.errors == 1 and counts.users == 0
    assert count(sessions, User, User.stale.is_(True)) == 2
    assert refresh_stale(sessions, app_client, NOW).users == 2
