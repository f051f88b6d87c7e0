"""The decrypted callback payload as a small frozen `CallbackEvent`.

Plain strings, not enums: WeCom adds events faster than we would update an
enum. WeCom's flat documents are read by `flat_xml` (regular expressions that take only what
is well-formed by construction); anything else goes to the parser, with defusedxml's refusals, so
a DTD or an entity declaration is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from types import MappingProxyType
from typing import Mapping
from xml.etree.ElementTree import Element, ParseError
from xml.etree.ElementTree import fromstring as _c_fromstring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MAX_CREATE_TIME_DIGITS = 10


class BadPayload(ValueError):
    """The decrypted plaintext is not the XML document WeCom sends."""


class BadCreateTime(BadPayload):
    """CreateTime is not ASCII digits of at most MAX_CREATE_TIME_DIGITS."""


@dataclasses.dataclass(frozen=True)
class CallbackEvent:
    msg_type: str
    event: str
    from_user: str
    create_time: int
    fields: Mapping[str, str]
    lists: Mapping[str, tuple[str, ...]]

    @property
    def name(self) -> str:
        """What the router keys on: the Event for events, else the MsgType (`text`, ...)."""
        return self.event if self.msg_type == "event" else self.msg_type

    @property
    def change_type(self) -> str:
        return self.fields.get("ChangeType", "")

    def get(self, field: str, default: str = "") -> str:
        return self.fields.get(field, default)

    def items(self, field: str) -> tuple[str, ...]:
        """A list field such as MemChangeList, in either of WeCom's forms:
        `<Item>a</Item><Item>b</Item>` (current) or the older `a,b` string."""
        if field in self.lists:
            return self.lists[field]
        text = self.fields.get(field, "")
        return tuple(part.strip() for part in text.split(",") if part.strip())

    def dedupe_key(self) -> str:
        """Messages carry a MsgId. Events only have FromUserName + CreateTime, which
        two change_contact events from `sys` in one second share, so the key hashes
        every field of the event: a retry is identical, a different event is not."""
        msg_id = self.fields.get("MsgId")
        if msg_id:
            return f"msg:{msg_id}"
        canonical = "\n".join(f"{k}={v}" for k, v in sorted(self.fields.items()))
        canonical += "\n" + "\n".join(f"{k}={','.join(v)}" for k, v in sorted(self.lists.items()))
        return f"evt:{self.name[:64]}:{hashlib.sha256(canonical.encode()).hexdigest()}"  # fits String(255)


def _text(element: Element) -> str:
    return (element.text or "").strip()


def safe_fromstring(xml: bytes | str) -> Element:
    """defusedxml's refusals (no DTD, so no entity declaration and no external entity) at the
    speed of the C parser. defusedxml parses with the pure-Python ElementTree, 6x slower than the
    C one (bench/callback_ingest.py --profile). Entities and external references can only be
    declared in a DOCTYPE, and expat knows only the exact `<!DOCTYPE`: text without it goes to
    the C parser, which then refuses any undeclared entity as malformed. Text that holds it (a DTD,
    or a message that merely quotes one in CDATA) and bytes (whose encoding declaration could hide
    the marker from a byte search) go to defusedxml as before. Both raise ParseError on bad XML."""
    if isinstance(xml, str) and "<!DOCTYPE" not in xml:
        return _c_fromstring(xml)  # str: expat is told UTF-8, whatever the XML declaration says
    return fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)


def _parsed(xml: bytes | str) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """(fields, lists) through the XML parser: the leaves under <xml> by tag (the first of a tag
    wins), and the containers' leaf children as lists."""
    try:
        root = safe_fromstring(xml)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise BadPayload(f"not well-formed XML: {type(exc).__name__}") from None
    if root.tag != "xml":
        raise BadPayload(f"root element is <{root.tag}>, expected <xml>")
    fields: dict[str, str] = {}
    lists: dict[str, tuple[str, ...]] = {}
    for child in root:
        if len(child):
            # containers: MemChangeList/Item, SelectedItems/SelectedItem, ExtAttr/Item ...
            lists[child.tag] = tuple(_text(item) for item in child if not len(item)) or ()
        else:
            fields.setdefault(child.tag, _text(child))
    return fields, lists


# WeCom's documents are flat: <xml>, then leaves (`<Tag><![CDATA[text]]></Tag>` or `<Tag>123</Tag>`)
# and containers of leaves (`<MemChangeList><Item>a</Item></MemChangeList>`). For exactly that shape
# `flat_xml` reads (fields, lists) with regular expressions, several times faster than building
# the tree (the parser's set-up was a fifth of the receiver's own CPU, issue 14). It reads only what is
# well-formed by construction and means the same to the parser: no DTD, entity or reference (`&`), no
# attribute, comment or declaration, no `\r` (the parser normalises line ends), no character XML
# forbids, no `]]>` outside a CDATA end; anything else (any doubt) is None and goes to the parser.
# tests/endpoints/test_flat_xml.py checks it against the parser on every fixture and on mutations.
_NOT_XML = "\x00-\x08\x0b\x0c\r\x0e-\x1f\ufffe\uffff"
_NAME = "[A-Za-z_][A-Za-z0-9_]*"
_CDATA = f"[^\\]{_NOT_XML}]*+(?:\\](?!\\]>)[^\\]{_NOT_XML}]*+)*+"  # up to the first ]]>
_TEXT = f"[^<&\\]>{_NOT_XML}]*+"
_WS = "[ \t\n]*+"
_LEAF = f"<(?P<leaf>{_NAME})>(?:<!\\[CDATA\\[(?P<cdata>{_CDATA})\\]\\]>|(?P<text>{_TEXT}))</(?P=leaf)>"
_BOX = (f"<(?P<box>{_NAME})>(?P<items>(?:{_WS}<(?P<item>{_NAME})>(?:<!\\[CDATA\\[{_CDATA}\\]\\]>|{_TEXT})</(?P=item)>)++)"
        f"{_WS}</(?P=box)>")
_CHILD = re.compile(f"{_WS}(?:{_LEAF}|{_BOX})")
_ITEM = re.compile(f"{_WS}<({_NAME})>(?:<!\\[CDATA\\[({_CDATA})\\]\\]>|({_TEXT}))</\\1>")
_DOCUMENT = re.compile(f"{_WS}<xml>(?P<body>(?:{_WS}(?:{_LEAF}|{_BOX}))*+){_WS}</xml>{_WS}")


def flat_xml(xml: str) -> tuple[dict[str, str], dict[str, tuple[str, ...]]] | None:
    """(fields, lists) as `_parsed` reads them, for a flat WeCom document; None for anything else.
    One match proves the shape, then the children are read in order (possessive quantifiers: no
    backtracking, so time linear in the length)."""
    document = _DOCUMENT.fullmatch(xml)
    if document is None:
        return None
    fields: dict[str, str] = {}
    lists: dict[str, tuple[str, ...]] = {}
    # findall gives "" for a group not taken: of cdata and text one is always empty, and leaf is
    # empty exactly for a container
    for leaf, cdata, text, box, items, _item in _CHILD.findall(xml, document.start("body"), document.end("body")):
        if leaf:
            fields.setdefault(leaf, (cdata + text).strip())
        else:
            lists[box] = tuple((cdata + text).strip() for _tag, cdata, text in _ITEM.findall(items))
    return fields, lists


def parse_event(xml: bytes | str) -> CallbackEvent:
    flat = flat_xml(xml) if isinstance(xml, str) else None
    if flat is not None:
        fields, lists = flat
    else:
        fields, lists = _parsed(xml)
    create_time = fields.get("CreateTime", "0")
    # Unix seconds: ASCII digits, at most 10 (so within the BigInteger column on every database);
    # str.isdigit() alone accepts "²", and an unbounded value overflows PostgreSQL's bigint
    if not (len(create_time) <= MAX_CREATE_TIME_DIGITS and create_time.isascii() and create_time.isdigit()):
        raise BadCreateTime("CreateTime is not a Unix time in seconds")
    return CallbackEvent(
        msg_type=fields.get("MsgType", ""),
        event=fields.get("Event", ""),
        from_user=fields.get("FromUserName", ""),
        create_time=int(create_time),
        fields=MappingProxyType(fields),
        lists=MappingProxyType(lists),
    )
