"""events.flat_xml, the receiver's fast reading of WeCom's flat documents (issue 14): wherever it
answers, it answers exactly what the XML parser reads; anything it is unsure of goes to the parser."""

import random

import pytest

from wecom_app.callbacks.events import BadPayload, _parsed, flat_xml, parse_event

from tests.callbacks import FIXTURES

DOCUMENTS = sorted(path.read_text(encoding="utf-8") for path in FIXTURES.glob("*.xml"))
ENVELOPE = ("<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID>"
            "<Encrypt><![CDATA[RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS]]></Encrypt></xml>")

MARKS = ["<", ">", "&", "]", "]]>", "<![CDATA[", "]]", "\r", "\x00", "\x1f", " ", "\n", "\t", "</", "/>", "<A>", "</A>",
         "<Item>", "</Item>", "&amp;", "<!--", "-->", "<?x?>", "<!DOCTYPE x>", 'a="1"', "é", "\ufffe", "\u3000", "x"]


def read(document: str):
    try:
        return _parsed(document)
    except BadPayload:
        return "refused"


@pytest.mark.parametrize("document", DOCUMENTS + [ENVELOPE])
def test_every_fixture_is_read_fast_and_the_same_as_by_the_parser(document):
    assert flat_xml(document) is not None  # WeCom's shape: the fast path takes it
    assert flat_xml(document) == read(document)


def test_mutated_documents_are_read_the_same_or_left_to_the_parser():
    """Random edits with XML's significant characters: the fast path never reads a document otherwise
    than the parser, and never takes one the parser refuses."""
    rng = random.Random(20261205)
    taken = 0
    for _ in range(3000):
        document = rng.choice(DOCUMENTS + [ENVELOPE])
        for _edit in range(rng.randint(1, 3)):
            at = rng.randrange(len(document) + 1)
            cut = rng.choice((0, 0, 1, 2, 5))
            document = document[:at] + rng.choice(MARKS + [""]) + document[at + cut:]
        fast = flat_xml(document)
        if fast is not None:
            taken += 1
            assert fast == read(document), document
    assert taken > 200  # edits inside a CDATA or a text keep the shape: the fast path is exercised


@pytest.mark.parametrize("document", [
    "<xml><A>1</A><A>2</A></xml>",  # the first of a tag wins, as in the parser's reading
    "<xml>\n  <A><![CDATA[ x ]]></A>\n  <L>\n    <Item>a</Item>\n    <Item><![CDATA[b]]></Item>\n  </L>\n</xml>\n",
    "<xml><A></A><B>  </B><C><![CDATA[]]></C></xml>",
    "<xml><A><![CDATA[a]b]]c>]]></A></xml>",
])
def test_edge_shapes_read_the_same(document):
    assert flat_xml(document) is not None and flat_xml(document) == read(document)


@pytest.mark.parametrize("document", [
    "<?xml version='1.0'?><xml><A>1</A></xml>",  # a declaration
    "<xml><A>1 &amp; 2</A></xml>",  # a reference
    "<xml><A x='1'>1</A></xml>",  # an attribute
    "<xml><A>1\r\n2</A></xml>",  # line ends the parser normalises
    "<xml><L><M><Item>a</Item></M></L></xml>",  # deeper than WeCom's containers
    "<xml><A>1</A></xml><xml/>",  # a second root
    "<root><A>1</A></root>",  # not <xml>
    "<xml><A><![CDATA[a]]><![CDATA[b]]></A></xml>",  # two CDATA sections
])
def test_what_the_fast_path_is_unsure_of_goes_to_the_parser(document):
    assert flat_xml(document) is None  # parse_event hands it to the parser, which reads or refuses it


def test_a_document_the_parser_refuses_is_refused_whichever_path():
    with pytest.raises(BadPayload):
        parse_event("<xml><A>\x00</A><CreateTime>1</CreateTime></xml>")
