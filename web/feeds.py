"""Atom and RSS feeds of every log entry, filtered feeds, and RFC 5005 archives."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("feeds", __name__, url_prefix="/feeds")
