"""Workbench forms (Flask-WTF: each carries the CSRF token; WTForms validates on the
server and the `field` macro shows each error next to its field)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import AnyOf, DataRequired


class EmptyForm(FlaskForm):
    """A form with nothing but the CSRF token (logout, one-button actions)."""


class ActForm(FlaskForm):
    """收到 / 已办结 on a directive: the button's value is the card's key."""

    key = HiddenField(validators=[DataRequired(), AnyOf(("ack", "done"), message="无效操作")])
