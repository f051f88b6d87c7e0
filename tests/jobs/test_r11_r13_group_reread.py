"""No join left unjudged (R1, R11, R13, R2): a change_external_chat push (92130) that does
not name every joiner gets its group re-read (groupchat/get 92122) by the group_reread job,
whose cycle is 5 seconds; the emulator plays WeCom over HTTP, the clock stands still."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from jobs import BY_NAME
from wecom_app.governance import registry
from wecom_app.governance.group_reread import reread_due
from wecom_app.governance.reconcile import reconcile
from wecom_app.models import AuditEntry, Group, GroupReread

from tests.plugins.world import member, push, texts_to

CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"  # 华东客户交流群, owned by hujie; scope 华东销售组 (department 6)
OUTSIDER = "wmOgQhDgAAoutsider000000000000AAA"  # an external contact: none allowed here (R13)


def register(world) -> int:
    """The group with only members who belong in it (its seeded stranger and R&D member gone), read once."""
    for userid in ("wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA", "pengfei"):
        world.state.groupchat_remove_member(CHAT, userid)
    with world.sessions.begin() as session:
        group_id = registry.register_group(
            session, world.settings, kind="customer", chat_id=CHAT, name="华东客户交流群", owner="hujie",
            custodian="wujun", scope={"departments": [6]}, allow_external=False, robot_webhook=None,
            actor="api:office", now=world.now()).id
    reconcile(world.sessions, world.client, world.settings, world.now())  # read once: we hold its member_version
    return group_id


def reread(world, client=None):
    """One run of the group_reread job, at the same instant as the push before it."""
    return reread_due(world.sessions, client or world.client, world.settings, world.now())


def violations(session):
    return sorted((e.details["rule"], e.details["userid"]) for e in
                  session.scalars(select(AuditEntry).where(AuditEntry.action == "violation.detected")))


def compliance(session, group_id, *userids):
    return {u: member(session, group_id, u).compliance for u in userids}


def version(world, group_id):
    with world.sessions() as session:
        return session.get(Group, group_id).member_version


@pytest.mark.both_databases  # the claim: FOR UPDATE OF ... SKIP LOCKED
def test_r13_list_less_push_for_three_joiners_outsider_violation_within_one_reread_cycle(world):
    assert BY_NAME["group_reread"].every <= 5 and not BY_NAME["group_reread"].exclusive  # the cycle, in every process
    group_id = register(world)
    push(world, world.state.groupchat_add_members(CHAT, ["linfeng", "guojuan", OUTSIDER], listed=0))
    with world.sessions() as session:  # MemChangeCnt 3 and no MemChangeList: nobody to judge yet
        assert member(session, group_id, OUTSIDER) is None and violations(session) == []
    job = SimpleNamespace(sessions=world.sessions, client=world.client, settings=world.settings, clock=world.now)
    counts = BY_NAME["group_reread"].run(job)  # the job's next run, at the same instant
    assert (counts.read, counts.applied) == (1, 1)
    with world.sessions() as session:
        assert violations(session) == [("R13", OUTSIDER)]
        assert compliance(session, group_id, "linfeng", "guojuan") == {"linfeng": "ok", "guojuan": "ok"}
        (task,) = texts_to(session, "wujun")
        assert OUTSIDER in task
        assert session.scalar(select(GroupReread)) is None
    assert version(world, group_id) == world.state.groupchats[CHAT]["member_version"]
    assert reread(world).read == 0  # nothing read twice


def test_r11_short_list_all_three_joiners_judged_and_version_advanced_only_by_the_reread(world):
    group_id = register(world)
    held = version(world, group_id)
    push(world, world.state.groupchat_add_members(CHAT, [OUTSIDER, "caoyang", "linfeng"], listed=1))
    with world.sessions() as session:  # MemChangeCnt 3, one item: that one is judged at once
        assert member(session, group_id, OUTSIDER).compliance == "external_not_allowed"
        assert member(session, group_id, "caoyang") is None
    assert version(world, group_id) in (held, None)  # not the pushed CurMemVer
    reread(world)
    with world.sessions() as session:
        assert compliance(session, group_id, OUTSIDER, "caoyang", "linfeng") == {
            OUTSIDER: "external_not_allowed", "caoyang": "out_of_scope", "linfeng": "ok"}
        assert violations(session) == [("R11", "caoyang"), ("R13", OUTSIDER)]
        assert len(texts_to(session, "wujun")) == 2  # one task each, the early one not repeated
    assert version(world, group_id) == world.state.groupchats[CHAT]["member_version"]


def test_r13_change_name_with_moved_versions_and_no_list_reread(world):
    group_id = register(world)
    world.state.groupchat_add_members(CHAT, [OUTSIDER])  # its push is lost
    push(world, world.state.groupchat_update(CHAT, name="随便聊", versions=True))  # versions, no list
    assert reread(world).applied == 1
    with world.sessions() as session:
        assert violations(session) == [("R13", OUTSIDER)]
    world.clock.advance(60)
    push(world, world.state.groupchat_update(CHAT, name="华东客户交流群", versions=True))  # members unchanged
    assert reread(world).read == 0 and version(world, group_id) == world.state.groupchats[CHAT]["member_version"]


def test_r11_qr_code_join_no_inviter_notice(world):
    group_id = register(world)
    push(world, world.state.groupchat_add_member(CHAT, "caoyang", JoinScene=3))  # R&D: out of scope
    (seen,) = [m for m in world.client.groupchat_get(CHAT)["group_chat"]["member_list"] if m["userid"] == "caoyang"]
    assert seen["join_scene"] == 3 and "invitor" not in seen  # 92122: only a member's invitation names one
    reconcile(world.sessions, world.client, world.settings, world.now())  # the pass that reads joiners' inviters
    with world.sessions() as session:
        assert (member(session, group_id, "caoyang").compliance, member(session, group_id, "caoyang").invitor) == (
            "out_of_scope", None)
        assert texts_to(session, "hujie") == texts_to(session, "wujun")  # the task only, to owner and custodian
        assert not [t for u in world.state.users for t in texts_to(session, u) if "您邀请的" in t]


def test_r2_employee_shown_by_their_alias_in_groupchat_get_is_judged_by_the_directory_name(world):
    group_id = register(world)
    world.state.users["linfeng"]["alias"] = "Lucky"  # 林峰 shows outsiders an alias (92122 `name`)
    push(world, world.state.groupchat_add_members(CHAT, ["linfeng"], listed=0))
    reread(world)
    (seen,) = [m for m in world.client.groupchat_get(CHAT)["group_chat"]["member_list"] if m["userid"] == "linfeng"]
    assert seen["name"] == "Lucky"
    with world.sessions() as session:
        assert member(session, group_id, "linfeng").compliance == "ok" and texts_to(session, "linfeng") == []


class _Lagging:
    """groupchat/get answering from before the push for its first `times` calls (pitfall 9)."""

    def __init__(self, client, stale: dict, times: int):
        self.client, self.stale, self.times = client, stale, times

    def groupchat_get(self, chat_id, need_name=True):
        if self.times:
            self.times -= 1
            return self.stale
        return self.client.groupchat_get(chat_id, need_name)


def test_reread_that_sees_an_older_version_than_the_push_waits_and_applies_nothing(world):
    group_id = register(world)
    lagging = _Lagging(world.client, world.client.groupchat_get(CHAT), times=1)
    push(world, world.state.groupchat_add_members(CHAT, [OUTSIDER], listed=0))
    assert reread(world, lagging).waiting == 1
    with world.sessions() as session:
        assert member(session, group_id, OUTSIDER) is None and member(session, group_id, "tony").state == "present"
    assert reread(world, lagging).read == 0  # due again 5 s later
    world.clock.advance(5)
    assert reread(world, lagging).applied == 1
    with world.sessions() as session:
        assert violations(session) == [("R13", OUTSIDER)]


def test_reread_failure_stays_queued_and_a_dismissed_group_ends_it(world):
    group_id = register(world)
    push(world, world.state.groupchat_add_members(CHAT, [OUTSIDER], listed=0))
    world.state.faults.add("externalcontact/groupchat/get", "errcode", errcode=-1, count=1)
    assert reread(world).errors == 1
    with world.sessions() as session:
        assert session.scalar(select(GroupReread.attempts)) == 1
    world.clock.advance(5)
    world.state.groupchat_dismiss(CHAT)  # its push lost: groupchat/get answers 40050
    assert reread(world).dismissed == 1
    with world.sessions() as session:
        assert session.get(Group, group_id).status == "dismissed" and session.scalar(select(GroupReread)) is None


class _PushWhileReading:
    """Another list-less push arrives while the re-read is asking WeCom."""

    def __init__(self, world):
        self.world = world

    def groupchat_get(self, chat_id, need_name=True):
        answer = self.world.client.groupchat_get(chat_id, need_name)
        push(self.world, self.world.state.groupchat_add_members(CHAT, ["guojuan"], listed=0))
        return answer


@pytest.mark.both_databases  # the claim: FOR UPDATE OF ... SKIP LOCKED
def test_a_push_during_the_reread_gets_another_reread(world):
    group_id = register(world)
    push(world, world.state.groupchat_add_members(CHAT, [OUTSIDER], listed=0))
    reread(world, _PushWhileReading(world))
    with world.sessions() as session:
        assert member(session, group_id, "guojuan") is None  # joined after the answer
        assert session.scalar(select(GroupReread)) is not None
    reread(world)
    with world.sessions() as session:
        assert member(session, group_id, "guojuan").compliance == "ok"
