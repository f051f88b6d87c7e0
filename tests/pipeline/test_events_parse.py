"""events.safe_fromstring: the C parser for text without a DOCTYPE, defusedxml for the rest;
either way no DTD, no entity declaration and no external entity is ever honoured."""

from __future__ import annotations

import pytest

from tests.callbacks import fixture
from wecom_app.callbacks.events import BadPayload, parse_event

BOMB = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        "<xml><Content>&b;</Content><MsgType>text</MsgType></xml>")
EXTERNAL = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>'


@pytest.mark.parametrize("xml", [BOMB, EXTERNAL, BOMB.encode(), EXTERNAL.encode(),
                                 BOMB.encode("utf-16"), "<xml><Content>&e;</Content></xml>"])
def test_a_dtd_an_entity_or_an_undeclared_entity_is_refused_as_text_or_bytes(xml):
    with pytest.raises(BadPayload):
        parse_event(xml)


def test_a_message_that_quotes_a_doctype_in_cdata_is_still_read():
    xml = fixture("text").replace("<Content><![CDATA[", "<Content><![CDATA[<!DOCTYPE html> 是什么？")
    assert "<!DOCTYPE html>" in xml
    assert parse_event(xml).get("Content").startswith("<!DOCTYPE html> 是什么？")


@pytest.mark.parametrize("name", ["text", "change_external_chat__update__add_member", "template_card_event",
                                  "change_contact__create_user"])
def test_text_and_bytes_parse_to_the_same_event(name):
    """The fast path (text) and defusedxml (bytes) agree, dedupe key included."""
    xml = fixture(name)
    fast, defused = parse_event(xml), parse_event(xml.encode())
    assert fast == defused and fast.dedupe_key() == defused.dedupe_key()
