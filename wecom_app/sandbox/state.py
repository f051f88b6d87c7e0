"""The emulated company: everything WeCom's servers would know about one corp.

Departments (90208), members (90196), tags (90213), the app's agent info (90227),
managed groups (appchat, 90244), customer groups (客户群, 92122), every message
the app sent (90236 / 90248 / 94888) and what each recipient really got, issued
access tokens (91039) and OAuth codes (91023). Thread-safe: every reader and
writer holds `state.lock`. Time comes only from `state.clock`, so tests move
time forward with `ManualClock.advance` instead of sleeping.

Changes that WeCom would call back about live in `state_events.py`; injected
failures and the call log in `faults.py`.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import secrets
import threading
import time
import uuid
from typing import Callable

from wecom_app.sandbox.faults import FaultInjector
from wecom_app.sandbox.state_events import CallbackEventsMixin

ROOT_DEPARTMENT = 1
STATUS_ACTIVE, STATUS_DISABLED, STATUS_INACTIVE, STATUS_LEFT = 1, 2, 4, 5


class ManualClock:
    """A clock that moves only when told to: `clock()` → unix seconds, `advance(s)`."""

    def __init__(self, start: float = 1772413200.0):  # 2026-03-02 09:00 Asia/Shanghai, a Monday
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now


class SlidingWindow:
    """Counts events per key in a trailing window; `hit` records only if under the limit."""

    def __init__(self, seconds: float, limit: int):
        self.seconds, self.limit = seconds, limit
        self._events: dict[object, collections.deque] = collections.defaultdict(collections.deque)

    def allowed(self, key, now: float, n: int = 1) -> bool:
        events = self._events[key]
        while events and events[0][0] <= now - self.seconds:
            events.popleft()
        return sum(count for _, count in events) + n <= self.limit

    def record(self, key, now: float, n: int = 1) -> None:
        self._events[key].append((now, n))


class SandboxState(CallbackEventsMixin):
    """One corp with one self-built app. Build with `make_sandbox` and fill with `seed_demo_company`."""

    def __init__(self, corp_id: str, agent_id: int, secret: str, contact_secret: str | None = None,
                 clock: Callable[[], float] | None = None):
        self.lock = threading.RLock()
        self.clock = clock or time.time
        self.corp_id, self.agent_id = corp_id, int(agent_id)
        # secret → which credential it is: "app" (the self-built app) or "contact" (通讯录同步)
        self.secrets = {secret: "app"}
        if contact_secret:
            self.secrets[contact_secret] = "contact"
        self.token_ttl = 7200
        self.oauth_code_ttl = 300
        # a template card's response_code: "72小时内有效，且只能使用一次" (94888, 90236; the 24 h of
        # older copies is a fault: faults.add(kind="response_code_ttl", seconds=86400))
        self.response_code_ttl = 72 * 3600
        # message/send per app per natural day: seats × 200 person-times (90312); None = not enforced
        self.seat_limit: int | None = None
        self.seat_day: tuple[int, int] = (0, 0)  # (natural day in Beijing, person-times sent that day)
        self.departments: dict[int, dict] = {ROOT_DEPARTMENT: dict(
            id=ROOT_DEPARTMENT, name="企业", name_en="", parentid=0, order=100000000, department_leader=[])}
        self.users: dict[str, dict] = {}
        self.tags: dict[int, dict] = {}
        self.admins: list[str] = []
        self.agent = dict(agentid=self.agent_id, name="群规助手", square_logo_url="", description="",
                          allow_userinfos={"user": []}, allow_partys={"partyid": [ROOT_DEPARTMENT]},
                          allow_tags={"tagid": []}, close=0, redirect_domain="127.0.0.1",
                          report_location_flag=0, isreportenter=0, home_url="", customized_publish_status=1)
        self.external_contact_enabled = True  # listed in 客户联系「可调用接口的应用」; False → 48002
        # the 通讯录同步 secret's IP was trusted before 2022-08-15: user/get, department/list still
        # answer it (90196, 90208); False (a server set up today) → 48009 (emulator.py)
        self.contact_ip_grandfathered = False
        self.appchats: dict[str, dict] = {}
        # the admin console's 群成员人数上限 (5-2000, commonly 200): appchat/create and update
        # answer 86006 above it (90245); tests lower it below the app's WECOM_GROUP_SIZE_LIMIT
        self.group_size_limit = 200
        self.groupchats: dict[str, dict] = {}
        self.messages: list[dict] = []  # one record per message/send, appchat/send, update_template_card, webhook/send
        self.drops: list[dict] = []  # deliveries silently discarded by per-member limits or duplicate check
        self.truncated: list[dict] = []  # texts over WeCom's limit, cut or refused (truncation.py)
        self.duplicate_seen: dict[tuple[str, str], float] = {}  # (userid, content hash) → last delivery
        self.tokens: dict[str, dict] = {}
        self.oauth_codes: dict[str, dict] = {}
        self.task_ids: set[str] = set()
        self.response_codes: dict[str, dict] = {}
        self.cards: dict[tuple[str, str], dict] = {}  # (userid, task_id) → the card as that member sees it
        self.faults = FaultInjector(self)
        self.gettoken_calls = 0
        self.ticket_calls = 0  # ticket/get?type=agent_config (the JS-SDK's app ticket, 90506)
        self.jsapi_tickets: dict[str, object] = {}  # ticket → expires at
        self.stopping = threading.Event()  # set at server shutdown: ends injected hangs
        # per-corp per-API limits (90312 §4.1); tests lower them to see 45009
        self.api_limits = {"minute": 10000, "hour": 150000}
        self.api_limit_overrides: dict[str, dict] = {}
        self._api_windows: dict[tuple[str, str], SlidingWindow] = {}
        self.member_windows = [SlidingWindow(60, 30), SlidingWindow(3600, 1000)]  # message/send per member
        self.appchat_member_windows = [SlidingWindow(60, 200), SlidingWindow(86400, 10000)]
        # appchat/send per corp: 20,000 person-times a minute, 300,000 an hour (90248, 90454)
        self.appchat_person_windows = [SlidingWindow(60, 20000), SlidingWindow(3600, 300000)]
        self.appchat_create_window = SlidingWindow(86400, 1000)
        self.appchat_update_window = SlidingWindow(3600, 1000)
        self.intercept_rules: dict[str, dict] = {}  # 敏感词 intercept rules by rule_id (95130)
        self.robots: dict[str, str] = {}  # group robot webhook key → the chatid it posts into (99398)
        self.robot_window = SlidingWindow(60, 20)  # per robot key: 20 messages a minute (99398)
        self.archive = None  # 会话内容存档, when bought: emulator_archive.enable_archive(state, ...)
        self._ids = itertools.count(1)

    # -- time and ids -------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock()

    def next_id(self) -> int:
        return next(self._ids)

    # -- directory ------------------------------------------------------------------------------
    def add_department(self, id: int, name: str, parentid: int = ROOT_DEPARTMENT, order: int | None = None,
                       department_leader: list[str] | None = None, name_en: str = "") -> dict:
        with self.lock:
            if parentid not in self.departments:
                raise KeyError(f"no parent department {parentid}")
            department = dict(id=id, name=name, name_en=name_en, parentid=parentid,
                              order=order if order is not None else 100000000 - id,
                              department_leader=list(department_leader or []))
            self.departments[id] = department
            return department

    def add_user(self, userid: str, name: str, department: list[int], *, is_leader_in_dept=None,
                 main_department=None, direct_leader=None, position="", status=STATUS_ACTIVE, alias="",
                 mobile="", gender="0", email="", **extra) -> dict:
        with self.lock:
            userid = userid.lower()  # WeCom ids are case-insensitive; we keep the canonical lower case
            for id in department:
                if id not in self.departments:
                    raise KeyError(f"no department {id}")
            user = dict(userid=userid, name=name, department=list(department),
                        order=[0] * len(department), position=position, mobile=mobile, gender=gender,
                        email=email, biz_mail="", is_leader_in_dept=list(is_leader_in_dept or [0] * len(department)),
                        direct_leader=list(direct_leader or []), avatar="", thumb_avatar="", telephone="",
                        alias=alias, address="", open_userid="", main_department=main_department or department[0],
                        extattr={"attrs": []}, status=status, qr_code="", external_position="",
                        external_profile={"external_corp_name": "", "external_attr": []})
            user.update(extra)
            self.users[userid] = user
            for id, leader in zip(user["department"], user["is_leader_in_dept"]):
                leaders = self.departments[id]["department_leader"]
                if leader and userid not in leaders:
                    leaders.append(userid)
            return user

    def add_tag(self, tagid: int, tagname: str, userlist=(), partylist=()) -> dict:
        with self.lock:
            tag = dict(tagid=tagid, tagname=tagname, userlist=[u.lower() for u in userlist], partylist=list(partylist))
            self.tags[tagid] = tag
            return tag

    def user(self, userid: str) -> dict | None:
        return self.users.get((userid or "").lower())

    def subtree(self, department_id: int) -> list[int]:
        """The department and all its descendants, in id order."""
        with self.lock:
            found, frontier = {department_id}, [department_id]
            while frontier:
                parent = frontier.pop()
                for child in self.departments.values():
                    if child["parentid"] == parent and child["id"] not in found:
                        found.add(child["id"])
                        frontier.append(child["id"])
            return sorted(found)

    def members_of(self, department_ids, *, recursive=True) -> list[str]:
        with self.lock:
            wanted = set()
            for id in department_ids:
                wanted.update(self.subtree(id) if recursive else [id])
            return [u["userid"] for u in self.users.values() if wanted & set(u["department"])]

    def visible_departments(self) -> set[int]:
        with self.lock:
            return {d for p in self.agent["allow_partys"]["partyid"] if p in self.departments for d in self.subtree(p)}

    def visible_users(self) -> set[str]:
        """The app's visible range (可见范围, 90227): allowed departments (with children), users and tags."""
        with self.lock:
            found = set(self.members_of(self.agent["allow_partys"]["partyid"]))
            found.update(u["userid"].lower() for u in self.agent["allow_userinfos"]["user"])
            for tagid in self.agent["allow_tags"]["tagid"]:
                tag = self.tags.get(tagid)
                if tag:
                    found.update(tag["userlist"])
                    found.update(self.members_of(tag["partylist"]))
            return {u for u in found if u in self.users}

    def visible_among(self, userids) -> set[str]:
        """Those of `userids` (lower case) in the visible range: `visible_users` for a few
        members, without walking the whole company (a 100,000-person benchmark)."""
        with self.lock:
            departments = self.visible_departments()
            direct = {u["userid"].lower() for u in self.agent["allow_userinfos"]["user"]}
            for tagid in self.agent["allow_tags"]["tagid"]:
                tag = self.tags.get(tagid) or {"userlist": [], "partylist": []}
                direct.update(tag["userlist"])
                departments.update(d for p in tag["partylist"] if p in self.departments for d in self.subtree(p))
            return {u for u in userids if u in self.users
                    and (u in direct or not departments.isdisjoint(self.users[u]["department"]))}

    def is_whole_corp_visible(self) -> bool:
        return ROOT_DEPARTMENT in self.agent["allow_partys"]["partyid"]

    # -- tokens and OAuth codes -------------------------------------------------------------------
    def issue_token(self, kind: str) -> dict:
        with self.lock:
            token = secrets.token_urlsafe(96)  # real tokens are long; clients must store ≥ 512 bytes
            self.tokens[token] = dict(kind=kind, expires_at=self.now() + self.token_ttl)
            return dict(access_token=token, expires_in=self.token_ttl)

    def invalidate_tokens(self) -> None:
        """What a secret reset or WeCom ops does: every issued token answers 40014 from now on."""
        with self.lock:
            self.tokens.clear()

    def issue_oauth_code(self, userid: str) -> str:
        """The `code` WeCom appends to the OAuth redirect (91022): single use, 5 minutes."""
        with self.lock:
            code = secrets.token_urlsafe(32)
            self.oauth_codes[code] = dict(userid=userid.lower(), expires_at=self.now() + self.oauth_code_ttl, used=False)
            return code

    # -- limits -----------------------------------------------------------------------------------
    def api_allowed(self, path: str) -> bool:
        """Per-corp per-API frequency limit (90312); counts the call when allowed."""
        with self.lock:
            limits = self.api_limit_overrides.get(path, self.api_limits)
            now, windows = self.now(), []
            for name, seconds in (("minute", 60), ("hour", 3600)):
                window = self._api_windows.get((path, name))
                if window is None or window.limit != limits[name]:
                    window = self._api_windows.setdefault((path, name), SlidingWindow(seconds, limits[name]))
                    window.limit = limits[name]
                windows.append(window)
            if not all(w.allowed(path, now) for w in windows):
                return False
            for w in windows:
                w.record(path, now)
            return True

    def response_code_valid(self, code: dict | None) -> bool:
        """Unused and younger than 72 h (94888), or than a `response_code_ttl` fault's seconds."""
        ttl = self.faults.setting("response_code_ttl", self.response_code_ttl)
        return code is not None and not code["used"] and self.now() < code["issued_at"] + ttl

    def take_seat_quota(self, persons: int) -> bool:
        """message/send's daily person-times (seats × 200 per app, a natural day — "自然天",
        90454 — in Beijing time: UNCONFIRMED which zone); counts them when they fit."""
        with self.lock:
            if self.seat_limit is None:
                return True
            day = int(self.now() + 8 * 3600) // 86400
            used = self.seat_day[1] if self.seat_day[0] == day else 0
            if used + persons > self.seat_limit * 200:
                return False
            self.seat_day = (day, used + persons)
            return True

    # -- group robots ------------------------------------------------------------------------------
    def add_robot(self, chatid: str) -> str:
        """A member adds a group robot to a group in the client: the key of its webhook URL."""
        with self.lock:
            key = str(uuid.uuid4())  # WeCom's keys look like UUIDs; a bearer secret
            self.robots[key] = chatid
            return key

    # -- customer groups --------------------------------------------------------------------------
    def refresh_member_version(self, chat: dict) -> str:
        """member_version changes whenever the member list does (pairs with CurMemVer, 92130)."""
        basis = "|".join(f"{m['userid']}:{m['join_time']}" for m in chat["member_list"])
        chat["member_version"] = hashlib.md5(f"{chat['chat_id']}#{basis}".encode()).hexdigest()
        return chat["member_version"]

    # -- what members received ----------------------------------------------------------------------
    def inbox(self, userid: str) -> list[dict]:
        """The messages that actually reached this member (message/send and appchat/send), oldest first."""
        userid = userid.lower()
        with self.lock:
            return [m for m in self.messages if m["deliveries"].get(userid) == "delivered"]

    def calls(self, path: str | None = None) -> list[dict]:
        return self.faults.calls(path)
