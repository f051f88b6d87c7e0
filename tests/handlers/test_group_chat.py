"""handlers/group_chat.py: change_external_chat (客户群变更, 92130), one test per registration:
create, add_member, del_member, change_owner / change_name / change_notice, dismiss. The chat is
华东客户交流群, owned by zhangsan with lisi its custodian; the app cannot remove its members, so a
finding is a task for them (R9)."""

import pytest
from sqlalchemy import select

import handlers
from tests.plugins.handlers import customer_group, dispatch, external_chat, members, outbox
from wecom_app.models import Group, GroupReread, Violation

EXTERNAL = "wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA"  # an external contact's external_userid
V1, V2 = "9c3f97c2ada667dfb5f6d03308d963e1", "2b1d3e4f5a6978c0d1e2f3a4b5c6d7e8"
V3 = "7f6e5d4c3b2a19087f6e5d4c3b2a1908"


def test_r7_create_discovers_the_group_for_registration(ctx):
    dispatch(ctx, external_chat("create", UpdateDetail=""))
    (group,) = ctx.session.scalars(select(Group)).all()
    assert (group.kind, group.status, group.chat_id) == ("customer", "discovered", "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA")


def test_r13_external_contact_joining_a_group_closed_to_them_is_a_task_for_owner_and_custodian(ctx):
    group_id = customer_group(ctx, allow_external=False, member_version=V1)
    dispatch(ctx, external_chat("update", UpdateDetail="add_member", JoinScene=0, MemChangeCnt=1,
                                LastMemVer=V1, CurMemVer=V2, members=[EXTERNAL]))
    assert members(ctx, group_id)[EXTERNAL] == ("present", "external_not_allowed")
    assert [p["touser"] for p in outbox(ctx, "message/send")] == ["zhangsan|lisi"]
    assert ctx.session.scalar(select(Violation.rule).where(Violation.userid == EXTERNAL)) == "R13"
    assert ctx.session.get(Group, group_id).member_version == V2


def test_r9_del_member_records_the_departure(ctx):
    group_id = customer_group(ctx, members=("zhangsan", "wangwu"), member_version=V1)
    dispatch(ctx, external_chat("update", UpdateDetail="del_member", QuitScene=0, MemChangeCnt=1,
                                LastMemVer=V1, CurMemVer=V2, members=["wangwu"]))
    assert members(ctx, group_id)["wangwu"][0] == "removed"
    assert ctx.session.get(Group, group_id).member_version == V2


@pytest.mark.parametrize("detail", ["change_owner", "change_name", "change_notice"])
def test_r9_a_change_whose_member_version_moved_has_the_group_read_again_at_once(ctx, detail):
    group_id = customer_group(ctx, member_version=V1)
    dispatch(ctx, external_chat("update", UpdateDetail=detail, LastMemVer=V1, CurMemVer=V2))
    reread = ctx.session.scalar(select(GroupReread).where(GroupReread.group_id == group_id))
    assert (reread.reason, reread.want_version) == ("version_moved", V2)
    group = ctx.session.get(Group, group_id)
    assert group.member_version is None and group.reconciled_at is None  # read in full; the push advances nothing


def test_r9_a_reread_asked_in_a_batch_is_told_a_later_push_s_version_in_the_same_batch(ctx):
    """The dispatcher's preparer reads once whether a re-read waits (none here); the one the first
    push asks for must still get the second push's version."""
    group_id = customer_group(ctx, member_version=V1)
    first = external_chat("update", UpdateDetail="change_name", LastMemVer=V1, CurMemVer=V2)
    second = external_chat("update", UpdateDetail="add_member", JoinScene=0, MemChangeCnt=1, LastMemVer=V2,
                           CurMemVer=V3, members=["wangwu"])
    handlers.router.prepare_batch([first, second], ctx)  # as the dispatcher does, before the batch's handlers
    dispatch(ctx, first)
    dispatch(ctx, second)
    reread = ctx.session.scalar(select(GroupReread).where(GroupReread.group_id == group_id))
    assert (reread.reason, reread.want_version) == ("version_moved", V3)
    assert members(ctx, group_id)["wangwu"][0] == "present"


def test_r7_dismiss_marks_the_group_dismissed(ctx):
    group_id = customer_group(ctx)
    dispatch(ctx, external_chat("dismiss", UpdateDetail=""))
    assert ctx.session.get(Group, group_id).status == "dismissed"
