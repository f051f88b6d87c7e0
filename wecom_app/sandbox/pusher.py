"""Pushes callbacks to the app exactly as WeCom does, and builds their XML.

Protocol: document/path/90930 (URL check and POST), 90968 (AES and signature);
payloads: 90239 (text message), 90240 (template_card_event), 90970-90972
(change_contact), 92130 (change_external_chat). The builders take WeCom's own
element names as arguments, so `change_contact("update_user", UserID="lisi",
NewUserID="lisi2")` reads like the XML it makes.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import requests

from wecom_app.callbacks.crypto import WeComCrypto, signature

NUMBER_FIELDS = ("MainDepartment", "Status", "Gender", "Id", "ParentId", "Order", "TagId", "CreateTime",
                 "JoinScene", "QuitScene", "MemChangeCnt", "AgentID", "MsgId")


def _cdata(value: str) -> str:
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _element(name: str, value) -> str:
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    if name in NUMBER_FIELDS or isinstance(value, int):
        return f"<{name}>{escape(str(value))}</{name}>"
    return f"<{name}>{_cdata(value)}</{name}>"


def _xml(header: dict, fields: dict, extra: str = "") -> str:
    parts = [_element(k, v) for k, v in {**header, **fields}.items() if v is not None]
    return "<xml>" + "".join(parts) + extra + "</xml>"


def _header(ToUserName: str, FromUserName: str, CreateTime, MsgType: str = "event") -> dict:
    return dict(ToUserName=ToUserName, FromUserName=FromUserName,
                CreateTime=int(CreateTime if CreateTime is not None else time.time()), MsgType=MsgType)


def change_contact(ChangeType: str, *, ToUserName: str = "", CreateTime=None, **fields) -> str:
    """create_user / update_user (UserID, NewUserID, changed fields) / delete_user / create_party /
    update_party / delete_party / update_tag — 90970-90972. List fields become comma strings."""
    header = _header(ToUserName, "sys", CreateTime) | dict(Event="change_contact", ChangeType=ChangeType)
    return _xml(header, fields)


def change_external_chat(chat_id: str, ChangeType: str, UpdateDetail: str | None = None, JoinScene=None,
                         QuitScene=None, MemChangeList=(), LastMemVer: str | None = None,
                         CurMemVer: str | None = None, *, MemChangeCnt: int | None = None, ToUserName: str = "",
                         CreateTime=None) -> str:
    """create / update (add_member, del_member, change_owner, change_name, change_notice) / dismiss — 92130.
    MemChangeCnt defaults to the list's length; an older push counts members it does not list."""
    header = _header(ToUserName, "sys", CreateTime) | dict(Event="change_external_chat", ChatId=chat_id,
                                                          ChangeType=ChangeType)
    fields = dict(UpdateDetail=UpdateDetail, JoinScene=JoinScene, QuitScene=QuitScene)
    members = list(MemChangeList or ())
    extra = ""
    if MemChangeCnt is not None or members:
        fields["MemChangeCnt"] = len(members) if MemChangeCnt is None else MemChangeCnt
    if members:
        extra = "<MemChangeList>" + "".join(f"<Item>{_cdata(m)}</Item>" for m in members) + "</MemChangeList>"
    tail = _xml({}, dict(LastMemVer=LastMemVer, CurMemVer=CurMemVer))[5:-6]
    return _xml(header, fields, extra + tail)


def template_card_event(userid: str, task_id: str, event_key: str, response_code: str,
                        card_type: str = "button_interaction", *, ToUserName: str = "", AgentID: int | str = "",
                        CreateTime=None) -> str:
    """A member pressed a callback button (type 0) on a template card — 90240."""
    header = _header(ToUserName, userid, CreateTime) | dict(Event="template_card_event")
    fields = dict(EventKey=event_key, TaskId=task_id, CardType=card_type, ResponseCode=response_code,
                  AgentID=AgentID)
    return _xml(header, fields)


def text_message(userid: str, content: str, msg_id, *, ToUserName: str = "", AgentID: int | str = "",
                 CreateTime=None) -> str:
    """A member typed text in the app's 1:1 chat — 90239."""
    header = _header(ToUserName, userid, CreateTime, MsgType="text")
    return _xml(header, dict(Content=content, MsgId=int(msg_id), AgentID=AgentID))


def msgaudit_notify(*, ToUserName: str = "", AgentID: int | str = "", CreateTime=None) -> str:
    """新消息已存档: the conversation archive has new messages to pull — 95039 (FromUserName
    `sys`, at most about every 15 s)."""
    header = _header(ToUserName, "sys", CreateTime) | dict(Event="msgaudit_notify")
    return _xml(header, dict(AgentID=AgentID))


class CallbackPusher:
    """Delivers plaintext XML to the app's callback URL encrypted and signed as WeCom does.

    Retries as WeCom does (developer.work.weixin.qq.com/document/path/90930 §3.2):
    "仅针对网络连接失败或者网络请求超时情况重试" — up to three retries, only when the
    connection fails or no answer comes within 5 s, never on an HTTP status (a 503 is
    final, and the event is lost to the app). UNCONFIRMED: the page gives no interval
    between retries (`retry_wait`, default 1 s here), and whether a retry reuses the
    first envelope or encrypts afresh (here afresh: new random prefix, same timestamp
    and nonce, same event); the app dedupes by the event either way.
    """

    RETRIES = 3  # 90930 §3.2

    def __init__(self, url: str, token: str, aes_key: str, corp_id: str, session: requests.Session | None = None,
                 *, agent_id: int | str = "", timeout: float = 5.0, retries: int = RETRIES, retry_wait: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep):
        self.url, self.corp_id, self.agent_id = url, corp_id, agent_id
        self.crypto = WeComCrypto(token, aes_key, corp_id)
        self.session = session or requests.Session()
        self.timeout = timeout  # WeCom gives up on an answer after 5 s (90930); shorter in tests
        self.retries, self.retry_wait, self.sleep = retries, retry_wait, sleep
        self.attempts = 0  # deliveries the last push made

    def envelope(self, xml: str, timestamp=None, nonce=None) -> tuple[dict, str]:
        """(query parameters, body) of the POST WeCom would make."""
        timestamp = str(int(timestamp if timestamp is not None else time.time()))
        nonce = str(nonce if nonce is not None else secrets.randbelow(10**10))
        encrypted = self.crypto.encrypt(xml.encode())
        body = (f"<xml><ToUserName>{_cdata(self.corp_id)}</ToUserName><AgentID>{_cdata(self.agent_id)}</AgentID>"
                f"<Encrypt>{_cdata(encrypted)}</Encrypt></xml>")
        params = dict(msg_signature=signature(self.crypto.token, timestamp, nonce, encrypted),
                      timestamp=timestamp, nonce=nonce)
        return params, body

    def push(self, xml: str, *, timestamp=None, nonce=None) -> requests.Response:
        """The answer to the first delivery that got one (whatever its status), or the
        connection error or timeout of the last, after `retries` retries."""
        timestamp = str(int(timestamp if timestamp is not None else time.time()))
        nonce = str(nonce if nonce is not None else secrets.randbelow(10**10))
        self.attempts = 0
        while True:
            params, body = self.envelope(xml, timestamp, nonce)
            self.attempts += 1
            try:
                return self.session.post(self.url, params=params, data=body.encode(),
                                         headers={"Content-Type": "text/xml"}, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout):
                if self.attempts > self.retries:
                    raise
            self.sleep(self.retry_wait)

    def verify_url(self, echostr_plain: str, *, timestamp=None, nonce=None) -> requests.Response:
        """The GET check WeCom makes when the callback URL is saved (90930 §1.2)."""
        timestamp = str(int(timestamp if timestamp is not None else time.time()))
        nonce = str(nonce if nonce is not None else secrets.randbelow(10**10))
        echostr = self.crypto.encrypt(echostr_plain.encode())
        params = dict(msg_signature=signature(self.crypto.token, timestamp, nonce, echostr),
                      timestamp=timestamp, nonce=nonce, echostr=echostr)
        # encode once ourselves: a '+' in echostr must reach the app as '+', not a space
        return self.session.get(self.url + ("&" if "?" in self.url else "?") + urlencode(params),
                                timeout=self.timeout)

    # builders bound to this corp and app
    def change_contact(self, ChangeType: str, **fields) -> str:
        return change_contact(ChangeType, ToUserName=self.corp_id, **fields)

    def change_external_chat(self, chat_id: str, ChangeType: str, **fields) -> str:
        return change_external_chat(chat_id, ChangeType, ToUserName=self.corp_id, **fields)

    def template_card_event(self, userid, task_id, event_key, response_code, card_type="button_interaction") -> str:
        return template_card_event(userid, task_id, event_key, response_code, card_type,
                                   ToUserName=self.corp_id, AgentID=self.agent_id)

    def text_message(self, userid: str, content: str, msg_id) -> str:
        return text_message(userid, content, msg_id, ToUserName=self.corp_id, AgentID=self.agent_id)

    def msgaudit_notify(self) -> str:
        return msgaudit_notify(ToUserName=self.corp_id, AgentID=self.agent_id)
