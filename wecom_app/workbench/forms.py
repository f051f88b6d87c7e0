"""Workbench forms (Flask-WTF: each carries the CSRF token; WTForms validates on the
server and the `field` macro shows each error next to its field)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import AnyOf, DataRequired, ValidationError

from wecom_app.wecom import textlimits


class EmptyForm(FlaskForm):
    """A form with nothing but the CSRF token (logout, one-button actions)."""


class ActForm(FlaskForm):
    """收到 / 已办结 on a directive: the button's value is the card's key."""

    key = HiddenField(validators=[DataRequired(), AnyOf(("ack", "done"), message="无效操作")])


def bytes_words(what: str, limit: int, size: int) -> str:
    return f"{what}最多 {limit} 字节（UTF-8，一个汉字 3 字节），当前 {size} 字节"


def utf8_bytes(limit: int, what: str):
    """A validator: at most `limit` bytes in UTF-8, as WeCom counts (textlimits.py)."""

    def check(_form, field) -> None:
        size = textlimits.size((field.data or "").strip())
        if size > limit:
            raise ValidationError(bytes_words(what, limit, size))

    return check
