"""Reconciliation of customer groups (groupchat/get 92122, skipped by member_version)
and their discovery (groupchat/list 92120, the office's registration queue)."""

from __future__ import annotations

from sqlalchemy import select

from wecom_app.governance import discovery, registry
from wecom_app.governance.reconcile import reconcile
from wecom_app.models import Group
from wecom_app.wecom.errors import WeComError

from tests.plugins.world import member, push, texts_to

CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"  # 华东客户交流群, owned by hujie


def register(world):
    with world.sessions.begin() as session:
        return registry.register_group(
            session, world.settings, kind="customer", chat_id=CHAT, name="华东客户交流群", owner="hujie",
            custodian="wujun", scope={"departments": [6]}, allow_external=True, robot_webhook=None,
            actor="api:office", now=world.now()).id


def run(world):
    return reconcile(world.sessions, world.client, world.settings, world.now())


def gets(world):
    return [c["body"] for c in world.state.calls("externalcontact/groupchat/get")]


def test_customer_group_read_in_full_once_then_skipped_while_unchanged(world):
    group_id = register(world)
    counts = run(world)
    assert (counts.groups, counts.applied) == (1, 6)
    assert gets(world) == [{"chat_id": CHAT, "need_name": 1}]
    with world.sessions() as session:
        group = session.get(Group, group_id)
        assert group.member_version == world.state.groupchats[CHAT]["member_version"]
        assert member(session, group_id, "zhuxia").invitor == "hujie"
        assert member(session, group_id, "pengfei").compliance == "out_of_scope"  # R&D, not 华东销售
    assert run(world).skipped == 1 and len(gets(world)) == 1  # same member_version: not read


def test_r11_joiner_from_an_event_is_read_for_the_inviter(world):
    group_id = register(world)
    run(world)
    push(world, world.state.groupchat_add_member(CHAT, "caoyang", JoinScene=0, invitor="zhuxia"))
    with world.sessions() as session:
        assert member(session, group_id, "caoyang").invitor is None  # the event has no inviter (92130)
    counts = run(world)
    assert counts.groups == 1 and gets(world)[-1]["need_name"] == 1
    with world.sessions() as session:
        assert member(session, group_id, "caoyang").invitor == "zhuxia"
        assert any("您邀请的" in text for text in texts_to(session, "zhuxia"))
    assert run(world).skipped == 1


def test_daily_probe_without_names_finds_a_lost_event(world):
    group_id = register(world)
    run(world)
    world.clock.advance(86400)
    assert run(world).unchanged == 1 and gets(world)[-1]["need_name"] == 0  # probe, same version
    world.state.groupchat_remove_member(CHAT, "tony")  # the del_member push is lost
    assert run(world).skipped == 1  # within the day: not read
    world.clock.advance(86400)
    counts = run(world)
    assert counts.removed == 1
    with world.sessions() as session:
        assert member(session, group_id, "tony").state == "removed"


def test_renamed_customer_group_recorded_and_new_owner_taken_over(world):
    group_id = register(world)
    run(world)
    push(world, world.state.groupchat_update(CHAT, name="随便聊"), world.state.groupchat_update(CHAT, owner="zhuxia"))
    run(world)
    with world.sessions() as session:
        group = session.get(Group, group_id)
        assert (group.name, group.owner) == ("华东客户交流群", "zhuxia")


def test_dismissed_customer_group(world):
    group_id = register(world)
    world.state.groupchat_dismiss(CHAT)  # the dismiss push is lost: groupchat/get answers 40050
    assert run(world).dismissed == 1
    with world.sessions() as session:
        assert session.get(Group, group_id).status == "dismissed"


def test_r7_discovery_queues_unregistered_customer_groups(world, monkeypatch):
    register(world)
    monkeypatch.setattr(discovery, "LIMIT", 1)  # one group a page: the cursor is followed
    counts = discovery.discover(world.sessions, world.client, world.now())
    assert (counts.listed, counts.discovered, counts.pages) == (3, 2, 3)
    with world.sessions() as session:
        queued = session.scalars(select(Group).where(Group.status == "discovered")).all()
        assert {g.chat_id for g in queued} == set(world.state.groupchats) - {CHAT}
    assert discovery.discover(world.sessions, world.client, world.now()).discovered == 0
    run(world)  # a discovered group is read: its name for the office's queue, members recorded, not judged
    with world.sessions() as session:
        names = {g.name for g in session.scalars(select(Group).where(Group.status == "discovered"))}
        assert names == {"华南VIP客户群", "售后服务群"}


class _ManyOwners:
    """groupchat/list answering 81017 without owner_filter, as WeCom does past 1000 owners."""

    def __init__(self, client):
        self.client, self.bodies = client, []

    def groupchat_list(self, body):
        self.bodies.append(body)
        if "owner_filter" not in body:
            raise WeComError("externalcontact/groupchat/list", 81017, "too many owners")
        return self.client.groupchat_list(body)


def test_discovery_asks_per_owner_batch_past_1000_owners(world, monkeypatch):
    monkeypatch.setattr(discovery, "OWNER_BATCH", 20)
    client = _ManyOwners(world.client)
    counts = discovery.discover(world.sessions, client, world.now())
    assert counts.discovered == 3
    batches = [b["owner_filter"]["userid_list"] for b in client.bodies[1:]]
    assert all(len(batch) <= 20 for batch in batches) and len(batches) >= 3
