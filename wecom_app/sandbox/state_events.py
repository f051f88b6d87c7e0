"""Changes a human makes in the WeCom client, applied to the emulated company,
each returning the callback XML WeCom would push about it.

End-to-end tests "add a member in the client" with `state.groupchat_add_member`
and push what it returns with a `CallbackPusher`. Families: change_contact
(90970-90972), change_external_chat (92130), template_card_event (90240) and a
text typed to the app (90239). API-made changes are never called back (92130),
so the emulator's own endpoints do not use these.
"""

from __future__ import annotations

import secrets

from wecom_app.sandbox import pusher

# user field → the element name change_contact uses for it
CONTACT_FIELDS = dict(name="Name", department="Department", main_department="MainDepartment",
                      is_leader_in_dept="IsLeaderInDept", direct_leader="DirectLeader", position="Position",
                      mobile="Mobile", gender="Gender", email="Email", status="Status", alias="Alias",
                      telephone="Telephone", address="Address")


class CallbackEventsMixin:
    """Mixed into SandboxState; uses its lock, clock, users, departments, groupchats and cards."""

    # A 通讯录同步 callback URL configured or changed after 2022-08-15 gets member events with
    # only UserID and Department (developer.work.weixin.qq.com/document/path/90970): the default,
    # as for any server set up today. False: a receiver configured before then (every field).
    # A rename keeps NewUserID in the minimal form: it names the member as UserID does
    # (UNCONFIRMED: 90970 does not say whether the minimal form carries it). False: the
    # rename comes as a bare update_user for the old userid, and the app must find the new one.
    contact_callback_minimal = True
    contact_callback_new_userid = True

    def _created(self) -> dict:
        return dict(ToUserName=self.corp_id, CreateTime=int(self.now()))

    # -- template cards and messages -----------------------------------------------------------------
    def click(self, userid: str, task_id: str, key: str) -> str:
        """`userid` presses the callback button `key` on the card `task_id` they received; a fresh
        single-use ResponseCode is registered for message/update_template_card."""
        with self.lock:
            card = self.cards.get((userid.lower(), task_id))
            if card is None:
                raise LookupError(f"{userid} never received a card with task_id {task_id}")
            template = card["template_card"]
            keys = [b.get("key") for b in template.get("button_list", []) if int(b.get("type", 0)) == 0]
            keys += [template.get("submit_button", {}).get("key")]
            if key not in keys:
                raise LookupError(f"card {task_id} has no callback button {key!r}")
            code = self.register_response_code(task_id, [userid.lower()])
            card["clicks"].append(dict(key=key, response_code=code, at=self.now()))
            return pusher.template_card_event(userid.lower(), task_id, key, code, template["card_type"],
                                              AgentID=self.agent_id, **self._created())

    def register_response_code(self, task_id: str, userids: list[str]) -> str:
        code = f"rc{self.next_id():06d}{secrets.token_hex(12)}"
        self.response_codes[code] = dict(task_id=task_id, userids=list(userids), used=False, issued_at=self.now())
        return code

    def member_sends_text(self, userid: str, content: str) -> str:
        with self.lock:
            return pusher.text_message(userid.lower(), content, 7000000000000000000 + self.next_id(),
                                       AgentID=self.agent_id, **self._created())

    # -- directory (change_contact) -----------------------------------------------------------------
    def _contact_fields(self, user: dict, names) -> dict:
        if self.contact_callback_minimal:
            names = [n for n in names if n == "department"]
        return {CONTACT_FIELDS[n]: user[n] for n in names if n in CONTACT_FIELDS}

    def user_create(self, userid: str, name: str, department: list[int], **fields) -> str:
        with self.lock:
            user = self.add_user(userid, name, department, **fields)
            return pusher.change_contact("create_user", UserID=user["userid"],
                                         **self._contact_fields(user, CONTACT_FIELDS), **self._created())

    def user_update(self, userid: str, *, new_userid: str | None = None, **changes) -> str:
        """Change fields (WeCom's lower-case names: status=2, department=[...]); only changed ones are sent."""
        with self.lock:
            user = self.users[userid.lower()]
            changed = [k for k, v in changes.items() if user.get(k) != v]
            user.update(changes)
            extra = {}
            if new_userid and new_userid.lower() != user["userid"]:
                old = user["userid"]
                del self.users[old]
                user["userid"] = new_userid.lower()
                self.users[user["userid"]] = user
                if self.contact_callback_new_userid or not self.contact_callback_minimal:
                    extra["NewUserID"] = user["userid"]
                # the cards they received stay in their client under the new id
                for (owner, task_id) in [k for k in self.cards if k[0] == old]:
                    self.cards[(user["userid"], task_id)] = self.cards.pop((owner, task_id))
            return pusher.change_contact("update_user", UserID=userid.lower(), **extra,
                                         **self._contact_fields(user, changed), **self._created())

    def user_delete(self, userid: str) -> str:
        with self.lock:
            user = self.users.pop(userid.lower())
            for department in self.departments.values():
                if user["userid"] in department["department_leader"]:
                    department["department_leader"].remove(user["userid"])
            return pusher.change_contact("delete_user", UserID=user["userid"], **self._created())

    def party_create(self, id: int, name: str, parentid: int = 1, order: int | None = None) -> str:
        with self.lock:
            party = self.add_department(id, name, parentid, order)
            return pusher.change_contact("create_party", Id=id, Name=name, ParentId=parentid,
                                         Order=party["order"], **self._created())

    # -- customer groups (change_external_chat) ------------------------------------------------------
    def groupchat_create(self, chat_id: str, name: str, owner: str, members=(), *, notice: str = "",
                         admin_list=()) -> str:
        """`members`: userids (employees) or dicts with groupchat/get member fields; ids starting wm/wo are external."""
        with self.lock:
            now = int(self.now())
            chat = dict(chat_id=chat_id, name=name, owner=owner.lower(), create_time=now, notice=notice,
                        member_list=[], admin_list=[{"userid": a} for a in admin_list], status=0)
            self.groupchats[chat_id] = chat
            for member in [owner, *members]:
                entry = member if isinstance(member, dict) else dict(userid=member)
                if not any(m["userid"] == entry["userid"] for m in chat["member_list"]):
                    chat["member_list"].append(self._member(entry, now, invitor=owner))
            self.refresh_member_version(chat)
            return pusher.change_external_chat(chat_id, "create", **self._created())

    def _member(self, entry: dict, now: int, invitor: str | None) -> dict:
        """One member_list entry of groupchat/get (92122). join_scene: 1 invited directly, 2 by an
        invite link, 3 scanned the group QR code. `invitor` is there only when a member of the
        company invited ("目前仅当是由本企业内部成员邀请入群时会返回该值"): never for a QR-code join
        or an external inviter. `name` (need_name=1) of an employee is the name they show to
        outsiders, their alias when they set one, not necessarily the directory name."""
        userid = entry["userid"]
        external = userid.startswith(("wm", "wo"))
        user = None if external else self.user(userid)
        shown = (user.get("alias") or user["name"]) if user else ""
        member = dict(userid=userid if external else userid.lower(), type=2 if external else 1,
                      join_time=entry.get("join_time", now), join_scene=entry.get("join_scene", 1),
                      group_nickname=entry.get("group_nickname", ""), name=entry.get("name", shown))
        invitor = (entry.get("invitor") or invitor or "").lower()
        if member["join_scene"] in (1, 2) and invitor and invitor != member["userid"] and self.user(invitor):
            member["invitor"] = {"userid": invitor}
        for key in ("unionid", "state"):
            if key in entry:
                member[key] = entry[key]
        return member

    def groupchat_add_member(self, chat_id: str, userid: str, *, JoinScene: int = 0, invitor: str | None = None,
                             **member_fields) -> str:
        """A member joins (invited: JoinScene 0, QR: 3); member_fields: group_nickname, name, join_scene..."""
        return self.groupchat_add_members(chat_id, [dict(userid=userid, **member_fields)], JoinScene=JoinScene,
                                          invitor=invitor)

    def groupchat_add_members(self, chat_id: str, members, *, JoinScene: int = 0, invitor: str | None = None,
                              listed: int | None = None, versions: bool = True) -> str:
        """Members join together, in one add_member push (92130: MemChangeCnt, MemChangeList).
        `members`: userids or dicts of member fields. The push's JoinScene is 0 (invited; join_scene
        1 in groupchat/get, the invite goes to `invitor`, else the owner) or 3 (the QR code).
        Older pushes: `listed` — how many of them MemChangeList names (None: all; 0: no list, only
        MemChangeCnt); `versions=False` — no LastMemVer/CurMemVer."""
        with self.lock:
            chat = self.groupchats[chat_id]
            last = chat["member_version"]
            scene = 3 if int(JoinScene) == 3 else 1
            added = []
            for entry in members:
                entry = entry if isinstance(entry, dict) else dict(userid=entry)
                member = self._member({"join_scene": scene, **entry}, int(self.now()), invitor or chat["owner"])
                chat["member_list"].append(member)
                added.append(member["userid"])
            current = self.refresh_member_version(chat)
            return pusher.change_external_chat(
                chat_id, "update", "add_member", JoinScene=JoinScene, MemChangeCnt=len(added),
                MemChangeList=added[:listed] if listed is not None else added,
                LastMemVer=last if versions else None, CurMemVer=current if versions else None, **self._created())

    def groupchat_remove_member(self, chat_id: str, userid: str, *, QuitScene: int = 0) -> str:
        """A member leaves (QuitScene 0) or is removed by the owner/admin (1)."""
        with self.lock:
            chat = self.groupchats[chat_id]
            last = chat["member_version"]
            before = len(chat["member_list"])
            chat["member_list"] = [m for m in chat["member_list"] if m["userid"].lower() != userid.lower()]
            if len(chat["member_list"]) == before:
                raise LookupError(f"{userid} is not in {chat_id}")
            current = self.refresh_member_version(chat)
            return pusher.change_external_chat(chat_id, "update", "del_member", QuitScene=QuitScene,
                                               MemChangeList=[userid], LastMemVer=last, CurMemVer=current,
                                               **self._created())

    def groupchat_update(self, chat_id: str, *, name: str | None = None, notice: str | None = None,
                         owner: str | None = None, versions: bool = False) -> str:
        """change_name / change_notice / change_owner: one change per event; the new value is not in the XML.
        `versions=True`: the push also carries LastMemVer/CurMemVer and no member list, as change_name
        pushes have been seen to (92130 documents versions for add/del only). UNCONFIRMED what WeCom
        puts in them: here both are the current member_version (a rename changes no member)."""
        given = [(k, v) for k, v in (("name", name), ("notice", notice), ("owner", owner)) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of name, notice, owner")
        field, value = given[0]
        with self.lock:
            chat = self.groupchats[chat_id]
            chat[field] = value.lower() if field == "owner" else value
            version = chat["member_version"] if versions else None
            return pusher.change_external_chat(chat_id, "update", f"change_{field}", LastMemVer=version,
                                               CurMemVer=version, **self._created())

    def groupchat_dismiss(self, chat_id: str) -> str:
        with self.lock:
            del self.groupchats[chat_id]
            return pusher.change_external_chat(chat_id, "dismiss", **self._created())
