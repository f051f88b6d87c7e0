"""The JS-SDK's app identity (wx.agentConfig, document/path/94313): the app's
jsapi_ticket and the page signature, both server-side.

- The ticket comes from `ticket/get?type=agent_config` (获取应用的jsapi_ticket,
  document/path/90506), valid `expires_in` seconds (7200), and WeCom limits how
  often it may be fetched, so it is cached like the access token: the same
  `access_token` table and single-flight refresh (wecom/token.py), under a key
  derived from the token's key, so no part of the secret or the ticket is a key.
  The ticket is never logged (the client logs API names and errcodes only).
- The signature is sha1 of `jsapi_ticket=…&noncestr=…&timestamp=…&url=…`, values
  raw (not URL-escaped), in exactly that order, the url without its `#…` part
  (90506 签名算法, whose worked example is a unit test).
"""

from __future__ import annotations

import hashlib
import secrets
import threading

from wecom_app.wecom.token import TokenStore

TICKET_TYPE = "agent_config"
_stores: dict[str, TokenStore] = {}
_stores_guard = threading.Lock()


def signature(jsapi_ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """90506: sha1 over the four fields in this order, raw values, url without its fragment."""
    url = url.split("#", 1)[0]
    text = f"jsapi_ticket={jsapi_ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def ticket_key(token_key: str) -> str:
    return hashlib.sha256(f"jsapi_ticket:{TICKET_TYPE}\0{token_key}".encode()).hexdigest()


def _store(client) -> TokenStore:
    key = ticket_key(client.tokens.key)
    with _stores_guard:
        store = _stores.get(key)
        if store is None or store.sessions is not client.sessions:
            store = _stores[key] = TokenStore(client.sessions, key, client.clock)
        return store


def agent_ticket(client) -> str:
    """The app's jsapi_ticket: cached (database, shared by every process), else ticket/get."""
    store = _store(client)
    ticket = store.current()
    if ticket:
        return ticket

    def fetch() -> tuple[str, int]:
        result = client.get("ticket/get", {"type": TICKET_TYPE})
        return result["ticket"], int(result.get("expires_in", 7200))

    return store.refresh(fetch)[0]


def agent_config(client, settings, url: str, now) -> dict:
    """What the page passes to wx.agentConfig for `url` (94313)."""
    noncestr, timestamp = secrets.token_urlsafe(12), int(now.timestamp())
    return dict(corpid=settings.corp_id, agentid=settings.agent_id, timestamp=timestamp, nonceStr=noncestr,
                signature=signature(agent_ticket(client), noncestr, timestamp, url))
