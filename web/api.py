"""The JSON API under /api/v1 (read models, state, snapshots) and the submission endpoint."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
