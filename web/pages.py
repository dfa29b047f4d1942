"""The HTML pages people read."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pages", __name__)
