"""Workbench forms (Flask-WTF: each carries the CSRF token; WTForms validates on the
server and the `field` macro shows each error next to its field)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField
from wtforms.meta import DefaultMeta
from wtforms.validators import AnyOf, DataRequired, ValidationError

from wecom_app.wecom import textlimits


class ZhForm(FlaskForm):
    """WTForms' own messages (a malformed date or time) in Chinese: its bundled translations."""

    class Meta:
        locales = ("zh",)

        def get_translations(self, form):
            return DefaultMeta.get_translations(self, form)


class DayField(DateField):
    """A date as YYYY-MM-DD with the message in Chinese."""

    def process_formdata(self, valuelist):
        if not any(v.strip() for v in valuelist):
            self.data = None  # empty: validate_day says it is required
            return
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("日期格式为 YYYY-MM-DD，例如 2027-02-06") from None


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
