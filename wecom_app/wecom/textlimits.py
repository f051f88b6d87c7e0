"""What WeCom would cut: the length limits of every text the app sends, measured as
WeCom measures them, and the ways to make a long text fit without losing anything.

Text limits are UTF-8 bytes (a Chinese character is 3 bytes, an emoji 4):

| API (outbox kind) | text | markdown | page |
|---|---|---|---|
| message/send | 2048 | 2048 | 90236: text "最长不超过2048个字节，超过将截断" — cut silently, errcode 0 |
| appchat/send | 2048 | 2048 | 90248: text "最长不超过2048个字节"; markdown UNCONFIRMED (taken as 90236's) |
| webhook/send (group robot) | 2048 | 4096 | 99398 (older 91770) |

What WeCom does beyond the limit differs and is partly UNCONFIRMED (message/send
text: cut; robot markdown: refused with 40058 "markdown.content exceed max length
4096", as public reports show; the others: not documented). The app is safe either
way because it never sends a text over its limit: `outbox.enqueue` refuses one
(`check`), input over a limit is refused with the limit named (directives,
announcements), and generated texts are made to fit first — `split` into several
messages, or `fit` a list into one with "……另有 N 人" and a link to the
workbench page that has all of it. Nothing is ever cut in the middle of a character.

A template card's text fields have recommended lengths in characters ("建议不超过36个字",
90236 / 101032); what a client shows beyond them is UNCONFIRMED, so the app keeps
within them (`clip`, with "…"; the card's `card_action` opens the whole on the
workbench) and `check` refuses a card that does not.
"""

from __future__ import annotations

from typing import Any

TEXT_BYTES = 2048  # message/send and appchat/send text (90236, 90248)
LIMITS = {  # (outbox kind, msgtype) → bytes
    ("message/send", "text"): TEXT_BYTES,  # 90236
    ("message/send", "markdown"): 2048,  # 90236
    ("appchat/send", "text"): TEXT_BYTES,  # 90248
    ("appchat/send", "markdown"): 2048,  # 90248 (UNCONFIRMED: its markdown section names no figure we could read)
    ("webhook/send", "text"): 2048,  # 99398
    ("webhook/send", "markdown"): 4096,  # 99398
}
LARGEST = max(LIMITS.values())
# template card text fields: recommended characters (90236 template_card, 101032)
CARD_CHARS = {
    "source.desc": 20, "main_title.title": 36, "main_title.desc": 44, "emphasis_content.title": 14,
    "emphasis_content.desc": 22, "sub_title_text": 160, "horizontal_content_list.keyname": 5,
    "horizontal_content_list.value": 30, "jump_list.title": 18, "button_list.text": 10,
}
ELLIPSIS = "…"
MORE = "……另有 {n} 人"


class TooLong(ValueError):
    """A text WeCom would cut or refuse: a bug in whatever built it."""


def size(text: str) -> int:
    """Bytes in UTF-8, as WeCom counts."""
    return len(text.encode("utf-8"))


def limit(kind: str, msgtype: str) -> int | None:
    return LIMITS.get((kind, msgtype))


def problem(text: str, max_bytes: int, where: str = "") -> str | None:
    """Why `text` may not be sent (its size and the limit, `where` it applies), or None."""
    n = size(text)
    if n > max_bytes:
        return f"must be at most {max_bytes} bytes in UTF-8 (WeCom's limit{' ' + where if where else ''}); this is {n}"
    return None


def check(kind: str, payload: dict[str, Any]) -> None:
    """Refuse (TooLong) a text, markdown or template card that WeCom would cut."""
    body = payload.get("body", payload) if kind == "webhook/send" else payload
    msgtype = body.get("msgtype")
    content = body.get(msgtype) if isinstance(body.get(msgtype), dict) else {}
    most = limit(kind, msgtype)
    if most is not None and (why := problem(str(content.get("content", "")), most)):
        raise TooLong(f"{kind} {msgtype}: {why}")
    if msgtype == "template_card" or kind == "message/update_template_card":
        card = content if msgtype == "template_card" else payload.get("template_card") or {}
        if problems := card_problems(card):
            raise TooLong(f"{kind} template_card: {'; '.join(problems)}")


def card_problems(card: dict[str, Any]) -> list[str]:
    """The card's text fields longer than WeCom recommends."""
    found = []
    for path, most in CARD_CHARS.items():
        for value in _values(card, path.split(".")):
            if isinstance(value, str) and len(value) > most:
                found.append(f"{path} has {len(value)} characters, at most {most}")
    return found


def _values(node, keys: list[str]):
    if isinstance(node, list):
        for item in node:
            yield from _values(item, keys)
    elif isinstance(node, dict) and keys:
        if keys[0] in node:
            yield from _values(node[keys[0]], keys[1:]) if len(keys) > 1 else [node[keys[0]]]


def clip(text: str, chars: int) -> str:
    """At most `chars` characters, ending in "…" when shortened (a card field)."""
    return text if len(text) <= chars else text[: chars - 1] + ELLIPSIS


def shorten(text: str, max_bytes: int, tail: str = ELLIPSIS) -> str:
    """At most `max_bytes` UTF-8 bytes, ending in `tail` when shortened; never half a character."""
    if size(text) <= max_bytes:
        return text
    room = max_bytes - size(tail)
    return text.encode("utf-8")[:max(room, 0)].decode("utf-8", "ignore") + tail


def split(text: str, max_bytes: int = TEXT_BYTES) -> list[str]:
    """`text` as messages of at most `max_bytes` each, broken between lines where it can
    (inside a line only when the line alone is too long, never inside a character) and
    numbered "（1/3）" when there is more than one."""
    if size(text) <= max_bytes:
        return [text]
    room = max_bytes - size("（99/99）\n")
    pieces: list[str] = []
    for line in text.split("\n"):
        while size(line) > room:
            head = line.encode("utf-8")[:room].decode("utf-8", "ignore")
            pieces.append(head)
            line = line[len(head):]
        pieces.append(line)
    parts, current = [], ""
    for piece in pieces:
        joined = f"{current}\n{piece}" if current else piece
        if current and size(joined) > room:
            parts.append(current)
            joined = piece
        current = joined
    parts.append(current)
    return [f"（{i}/{len(parts)}）\n{part}" for i, part in enumerate(parts, 1)]


def fit(head: list[str], sections: list[tuple[str, list[str]]], tail: list[str],
        max_bytes: int = TEXT_BYTES) -> str:
    """Lines within `max_bytes`: the head and the tail (the link to the whole list) whole,
    each section's items sharing what room is left equally (what one leaves over goes to
    the next), and a section that does not fit saying how many more ("……另有 N 人")."""
    sections = [(heading, items) for heading, items in sections if items]
    lines = list(head)
    budget = max_bytes - _size(head + tail) - 1
    for left, (heading, items) in zip(range(len(sections), 0, -1), sections):
        if heading:
            lines.append(heading)
            budget -= _size([heading]) + 1
        share, used = budget // left, 0
        for i, item in enumerate(items):
            more = size(MORE.format(n=len(items) - i)) + 1 if i + 1 < len(items) else 0
            if used + _size([item]) + 1 + more > share:
                lines.append(MORE.format(n=len(items) - i))
                used += _size([lines[-1]]) + 1
                break
            lines.append(item)
            used += _size([item]) + 1
        budget -= used
    text = "\n".join(lines + tail)
    if size(text) > max_bytes:  # a head alone too long: keep the tail (the link) whole
        text = shorten("\n".join(lines), max_bytes - _size(tail) - 1) + "\n" + "\n".join(tail)
    return text


def _size(lines: list[str]) -> int:
    return size("\n".join(lines))
