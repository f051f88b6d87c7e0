"""change_contact handlers (handlers/contact.py): one fixture per ChangeType, dispatched
through the real router; userid renames; events out of order."""

from datetime import datetime, timezone

from sqlalchemy import select

from handlers import router
from wecom_app.callbacks.dispatcher import dispatch_pending
from wecom_app.callbacks.events import parse_event
from wecom_app.models import (
    ApiToken,
    Department,
    Group,
    GroupMember,
    InboxEvent,
    Tag,
    TagMember,
    User,
    UserDepartment,
)
from wecom_app.models.directory import STATUS_DISABLED, STATUS_LEFT

from tests.callbacks import fixture
from tests.conftest import make_settings

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


def dispatch(sessions, *names):
    """Store each fixture (or raw XML) in the inbox, in this order, and dispatch them all."""
    with sessions.begin() as session:
        for name in names:
            xml = name if name.startswith("<xml>") else fixture(name)
            event = parse_event(xml)
            session.add(InboxEvent(dedupe_key=event.dedupe_key(), source="contacts", msg_type=event.msg_type,
                                   event=event.event, change_type=event.change_type, from_user=event.from_user,
                                   create_time=event.create_time, payload=xml, received_at=NOW, next_attempt_at=NOW))
    stats = dispatch_pending(sessions, router, make_settings(), NOW)
    assert stats.done == len(names), stats


def user(sessions, userid):
    with sessions() as session:
        row = session.get(User, userid)
        if row is not None:
            row.departments = {d.department_id: d.is_leader for d in session.scalars(
                select(UserDepartment).where(UserDepartment.userid == userid))}
            session.expunge(row)
        return row


def test_create_user_fills_the_mirror(sessions):
    dispatch(sessions, "change_contact__create_user")
    zhangsan = user(sessions, "zhangsan")
    assert (zhangsan.name, zhangsan.position, zhangsan.status, zhangsan.main_department) == ("张三", "产品经理", 1, 2)
    assert zhangsan.departments == {1: False, 2: False}
    assert zhangsan.direct_leader == ["lisi"] and not zhangsan.stale
    assert zhangsan.event_time == 1763900000


def test_update_user_changes_only_the_fields_it_carries(sessions):
    dispatch(sessions, "change_contact__create_user", "change_contact__update_user")
    zhangsan = user(sessions, "zhangsan")
    assert (zhangsan.position, zhangsan.status, zhangsan.direct_leader) == ("产品总监", STATUS_DISABLED, ["wangwu"])
    assert zhangsan.name == "张三" and zhangsan.departments == {1: False, 2: False}


def test_minimal_update_user_applies_departments_and_marks_stale(sessions):
    dispatch(sessions, "change_contact__create_user", "change_contact__update_user__minimal")
    zhangsan = user(sessions, "zhangsan")
    assert zhangsan.departments == {2: False, 3: False} and zhangsan.main_department == 2
    assert zhangsan.stale and zhangsan.name == "张三"


def test_r1_delete_user_marks_left_and_keeps_the_row(sessions):
    dispatch(sessions, "change_contact__create_user", "change_contact__delete_user")
    zhangsan = user(sessions, "zhangsan")
    assert zhangsan.status == STATUS_LEFT and zhangsan.left_at is not None
    assert zhangsan.departments == {1: False, 2: False}  # kept for the records


def test_r9_userid_rename_moves_every_reference(sessions):
    dispatch(sessions, "change_contact__create_user")
    with sessions.begin() as session:
        scope = {"departments": [2], "users": ["zhangsan", "lisi"], "exclude": ["zhangsan"], "tags": []}
        group = Group(kind="managed", name="产品群", owner="zhangsan", custodian="zhangsan", scope=scope)
        session.add(group)
        session.flush()
        session.add_all([GroupMember(group_id=group.id, member_id="zhangsan", invitor="zhangsan"),
                         ApiToken(name="t", role="custodian", userid="zhangsan", token_hash="h" * 64),
                         TagMember(tag_id=1, userid="zhangsan"), Department(id=2, department_leader=["zhangsan"]),
                         User(userid="lisi", direct_leader=["zhangsan"])])
    dispatch(sessions, "change_contact__update_user__NewUserID")
    with sessions() as session:
        assert session.get(User, "zhangsan") is None and session.get(User, "zhangsan01").name == "张三"
        group = session.scalars(select(Group)).one()
        assert (group.owner, group.custodian) == ("zhangsan01", "zhangsan01")
        assert group.scope["users"] == ["zhangsan01", "lisi"] and group.scope["exclude"] == ["zhangsan01"]
        member = session.scalars(select(GroupMember)).one()
        assert (member.member_id, member.invitor) == ("zhangsan01", "zhangsan01")
        assert session.scalars(select(ApiToken.userid)).one() == "zhangsan01"
        assert session.scalars(select(TagMember.userid)).one() == "zhangsan01"
        assert session.get(Department, 2).department_leader == ["zhangsan01"]
        assert session.get(User, "lisi").direct_leader == ["zhangsan01"]
        assert set(session.scalars(select(UserDepartment.userid))) == {"zhangsan01"}


def test_rename_of_an_unknown_user_creates_the_new_id_stale(sessions):
    dispatch(sessions, "change_contact__update_user__NewUserID")
    assert user(sessions, "zhangsan01").stale and user(sessions, "zhangsan") is None


def test_update_before_create_keeps_the_newer_state(sessions):
    dispatch(sessions, "change_contact__update_user", "change_contact__create_user")
    zhangsan = user(sessions, "zhangsan")
    assert zhangsan.status == STATUS_DISABLED and zhangsan.position == "产品总监"  # the older create is ignored
    assert zhangsan.stale  # made from a partial update: the job re-reads it


def test_r1_delete_then_older_create_leaves_the_user_left(sessions):
    dispatch(sessions, "change_contact__delete_user", "change_contact__create_user")
    zhangsan = user(sessions, "zhangsan")
    assert zhangsan.status == STATUS_LEFT and not zhangsan.stale


def test_parties_are_created_moved_and_deleted(sessions):
    dispatch(sessions, "change_contact__create_party")
    with sessions() as session:
        party = session.get(Department, 20)
        assert (party.name, party.parentid, party.sort_order, party.deleted) == ("质量部", 1, 100, False)
    dispatch(sessions, "change_contact__update_party")
    with sessions() as session:
        assert (session.get(Department, 20).name, session.get(Department, 20).parentid) == ("质量管理部", 2)
    dispatch(sessions, "change_contact__delete_party")
    with sessions() as session:
        assert session.get(Department, 20).deleted


def test_late_create_party_after_delete_stays_deleted(sessions):
    dispatch(sessions, "change_contact__delete_party", "change_contact__create_party")
    with sessions() as session:
        assert session.get(Department, 20).deleted


def test_update_tag_marks_the_tag_stale_for_tag_get(sessions):
    with sessions.begin() as session:
        session.add(Tag(id=2, name="销售骨干", stale=False))
    dispatch(sessions, "change_contact__update_tag")
    with sessions() as session:
        assert session.get(Tag, 2).stale
