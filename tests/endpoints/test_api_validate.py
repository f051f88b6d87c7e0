"""The request-body validator (wecom_app/api/validate.py): every problem named by its dotted path."""

from datetime import datetime, timedelta

import pytest

from wecom_app.api.validate import (
    Boolean,
    DateTime,
    Integer,
    Invalid,
    ListOf,
    Object,
    OneOf,
    String,
    optional,
    validate,
)

SCHEMA = Object(
    name=String(10),
    count=Integer(minimum=0, maximum=5),
    urgent=optional(Boolean(), default=False),
    require=OneOf("ack", "completion"),
    deadline=optional(DateTime()),
    scope=optional(Object(departments=optional(ListOf(Integer(minimum=1)), default=list),
                          users=optional(ListOf(String(64)), default=list)), default=dict),
)
GOOD = {"name": "周会", "count": 2, "require": "ack"}


def problems(body) -> list[tuple[str, str]]:
    with pytest.raises(Invalid) as caught:
        validate(SCHEMA, body)
    return caught.value.errors


def test_a_good_body_comes_back_clean_with_defaults():
    assert validate(SCHEMA, dict(GOOD, name="  周会 ")) == {
        "name": "周会", "count": 2, "urgent": False, "require": "ack", "deadline": None, "scope": {}}


def test_missing_required_fields_are_each_named():
    assert problems({}) == [("name", "is required"), ("count", "is required"), ("require", "is required")]


def test_unknown_fields_are_named_first_even_when_nested():
    errors = problems(dict(GOOD, colour="red", scope={"departments": [], "tag": [1]}))
    assert [field for field, _ in errors] == ["colour", "scope.tag"]
    assert "known: name, count" in errors[0][1]


def test_list_items_are_named_by_index():
    errors = problems(dict(GOOD, scope={"departments": [1, 2, "3", 0], "users": ["ok", 5]}))
    assert errors == [("scope.departments[2]", "must be an integer"), ("scope.departments[3]", "must be at least 1"),
                      ("scope.users[1]", "must be a string")]


@pytest.mark.parametrize("field, value, message", [
    ("name", "x" * 11, "must be at most 10 characters"),
    ("name", "", "must not be empty"),
    ("name", "a\x00b", "must not contain control characters"),
    ("name", 3, "must be a string"),
    ("count", True, "must be an integer"),
    ("count", 2.0, "must be an integer"),
    ("count", 6, "must be at most 5"),
    ("urgent", "yes", "must be true or false"),
    ("urgent", 1, "must be true or false"),
    ("require", "done", 'must be one of "ack", "completion"'),
    ("scope", [], "must be an object"),
])
def test_each_kind_rejects_the_wrong_value_naming_the_field(field, value, message):
    assert problems(dict(GOOD, **{field: value})) == [(field, message)]


def test_datetime_needs_a_time_zone():
    moment = validate(SCHEMA, dict(GOOD, deadline="2027-01-04T18:00:00+08:00"))["deadline"]
    assert moment.utcoffset() == timedelta(hours=8)
    assert validate(SCHEMA, dict(GOOD, deadline="2027-01-04T10:00:00Z"))["deadline"] == datetime.fromisoformat(
        "2027-01-04T18:00:00+08:00")
    for bad in ("2027-01-04T18:00:00", "2027-01-04", "tomorrow", 1700000000):
        assert problems(dict(GOOD, deadline=bad))[0][0] == "deadline"


def test_null_for_an_optional_field_means_its_default_but_is_missing_for_a_required_one():
    assert validate(SCHEMA, dict(GOOD, urgent=None))["urgent"] is False
    assert problems(dict(GOOD, name=None)) == [("name", "is required")]


def test_messages_never_repeat_the_submitted_value():
    errors = problems(dict(GOOD, require="s3cr3t-value", name="s3cr3t-value-too-long"))
    assert all("s3cr3t" not in message for _, message in errors)


def test_lists_drop_duplicates_and_keep_order():
    assert validate(SCHEMA, dict(GOOD, scope={"departments": [3, 1, 3]}))["scope"]["departments"] == [3, 1]
