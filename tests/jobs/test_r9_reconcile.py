"""Reconciliation of managed groups (R9, R11, R7): WeCom sends no events for appchat
groups (pitfall 7), so changes made in the client are found by the reconcile pass
(appchat/get) and set right through the outbox. The emulator's state is changed
directly, as a member's client would, then the pass runs."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import func, select

import jobs.reconcile
from wecom_app.governance import registry
from wecom_app.governance.reconcile import reconcile
from wecom_app.models import Group, OutboxAction

from tests.plugins.world import actions, deliver, member

WRITES = ("appchat/update", "appchat/create", "appchat/send", "message/send")


def managed(world, name="研发部-全员", departments=(8,)):
    with world.sessions.begin() as session:
        group = registry.create_managed_group(
            session, world.settings, name=name, owner="caoyang", custodian="wangfang",
            scope={"departments": list(departments)}, allow_external=False, join_policy="auto", actor="api:office",
            now=world.now())
        chat_id, group_id = group.chat_id, group.id
    settle(world)
    return chat_id, group_id


def settle(world):
    deliver(world)
    with world.sessions.begin() as session:
        registry.settle_created_groups(session, world.now())


def run(world, **kw):
    return reconcile(world.sessions, world.client, world.settings, world.now(), **kw)


def writes(world):
    return sum(len(world.state.calls(path)) for path in WRITES)


def outbox_rows(world):
    with world.sessions() as session:
        return session.scalar(select(func.count()).select_from(OutboxAction))


def test_r11_member_added_in_client_is_found_and_removed(world):
    chat, group_id = managed(world)
    run(world)
    world.state.appchats[chat]["userlist"].append("yexin")  # HR, out of this group's scope
    counts = run(world)
    assert counts.added == 1
    with world.sessions() as session:
        assert (member(session, group_id, "yexin").state, member(session, group_id, "yexin").compliance) == (
            "removing", "out_of_scope")
        (removal,) = actions(session, "appchat/update")
        assert removal.payload == {"chatid": chat, "del_user_list": ["yexin"]}
    settle(world)
    assert "yexin" not in world.state.appchats[chat]["userlist"]
    assert run(world).removed == 1  # WeCom no longer lists the member we were removing
    with world.sessions() as session:
        assert member(session, group_id, "yexin").state == "removed"


def test_r9_in_scope_member_added_in_client_is_recorded(world):
    chat, group_id = managed(world)
    with world.sessions.begin() as session:
        session.delete(member(session, group_id, "xuwei"))  # WeCom lists someone we have no row for
    rows = outbox_rows(world)
    assert run(world).added == 1
    with world.sessions() as session:
        assert (member(session, group_id, "xuwei").state, member(session, group_id, "xuwei").compliance) == (
            "present", "ok")
    assert outbox_rows(world) == rows  # in scope: nothing to do in WeCom


def test_r9_member_who_left_in_client_is_added_again(world):
    chat, group_id = managed(world)
    world.state.appchats[chat]["userlist"].remove("xuwei")
    assert run(world).readded == 1
    settle(world)
    assert "xuwei" in world.state.appchats[chat]["userlist"]
    assert run(world).unchanged == 1


def test_r7_renamed_group_and_changed_owner_restored(world):
    chat, group_id = managed(world)
    world.state.appchats[chat].update(name="随便聊聊", owner="xuwei")
    assert run(world).restored == 1
    settle(world)
    assert (world.state.appchats[chat]["name"], world.state.appchats[chat]["owner"]) == ("研发部-全员", "caoyang")


def test_no_change_pass_makes_no_write_calls(world):
    managed(world)
    managed(world, "人力资源部-全员", (9,))
    run(world)
    before, rows = writes(world), outbox_rows(world)
    counts = run(world)
    assert (counts.groups, counts.unchanged) == (2, 2)
    assert writes(world) == before and outbox_rows(world) == rows
    assert len(world.state.calls("appchat/get")) == 4


def test_dismissed_chat_is_marked_dismissed(world):
    chat, group_id = managed(world)
    del world.state.appchats[chat]  # 86003 from appchat/get
    assert run(world).dismissed == 1
    with world.sessions() as session:
        assert session.get(Group, group_id).status == "dismissed"
    assert run(world).groups == 0  # not read again


class _LimitAfter:
    """The client, with the emulator answering 45009 to appchat/get after `n` reads."""

    def __init__(self, world, n):
        self.world, self.n, self.reads = world, n, 0

    def __getattr__(self, name):
        return getattr(self.world.client, name)

    def appchat_get(self, chatid):
        self.reads += 1
        if self.reads == self.n + 1:
            self.world.state.faults.add("appchat/get", "errcode", errcode=45009)
        return self.world.client.appchat_get(chatid)


def test_rate_limit_mid_pass_resumes_next_run(world):
    ids = [managed(world, f"研发部-第{i}组")[1] for i in range(3)]
    counts = reconcile(world.sessions, _LimitAfter(world, 1), world.settings, world.now())
    assert counts.rate_limited and counts.groups == 1
    with world.sessions() as session:
        assert [session.get(Group, i).reconciled_at is not None for i in ids] == [True, False, False]
    world.clock.advance(900)
    counts = run(world)
    assert (counts.groups, counts.rate_limited) == (3, False)
    gets = [c["params"]["chatid"] for c in world.state.calls("appchat/get") if c["errcode"] in (None, 0)]
    with world.sessions() as session:
        order = [session.get(Group, i).chat_id for i in ids]
    assert gets[-3:] == [order[1], order[2], order[0]]  # the ones left unread first


def test_group_with_a_queued_change_waits(world):
    chat, group_id = managed(world)
    world.state.appchats[chat]["userlist"].append("yexin")
    run(world)  # the removal is queued, not sent yet
    assert run(world).busy == 1
    assert len(actions_of(world, "appchat/update")) == 1


def actions_of(world, kind):
    with world.sessions() as session:
        return actions(session, kind)


def test_reconcile_job_runs_discovery_then_the_pass(world):
    managed(world)
    runtime = SimpleNamespace(sessions=world.sessions, client=world.client, settings=world.settings, clock=world.now)
    counts = jobs.reconcile.run(runtime)
    assert counts.groups >= 1 and not counts.rate_limited
    with world.sessions() as session:
        discovered = session.scalars(select(Group.chat_id).where(Group.status == "discovered")).all()
    assert len(discovered) == 3  # the demo company's customer groups, queued for the office


def test_change_queued_by_a_handler_during_the_pass_is_not_done_twice(world):
    chat, group_id = managed(world)
    world.state.appchats[chat]["userlist"].append("yexin")

    class _HandlerMeanwhile:  # between the pass's start and this group's read, a handler removes xuwei
        def __getattr__(self, name):
            return getattr(world.client, name)

        def appchat_get(self, chatid):
            with world.sessions.begin() as session:
                from wecom_app.governance import rules

                group = session.get(Group, group_id)
                rules.enforce(session, world.settings, group, member(session, group_id, "xuwei"), world.now(),
                              "out_of_scope")
            return world.client.appchat_get(chatid)

    counts = reconcile(world.sessions, _HandlerMeanwhile(), world.settings, world.now())
    assert counts.busy == 1 and counts.added == 0
    assert len(actions_of(world, "appchat/update")) == 1  # the handler's removal only


def test_crash_mid_pass_keeps_what_was_done_and_resumes(world):
    ids = [managed(world, f"研发部-第{i}组")[1] for i in range(3)]

    class _CrashAfterOne:
        reads = 0

        def __getattr__(self, name):
            return getattr(world.client, name)

        def appchat_get(self, chatid):
            self.reads += 1
            if self.reads == 2:
                raise ConnectionAbortedError("the worker died")
            return world.client.appchat_get(chatid)

    try:
        reconcile(world.sessions, _CrashAfterOne(), world.settings, world.now())
    except ConnectionAbortedError:
        pass
    with world.sessions() as session:
        assert [session.get(Group, i).reconciled_at is not None for i in ids] == [True, False, False]
    assert run(world).groups == 3
