"""The API's blueprint, in a module of its own: the route modules import it and the package
registers them, so no module imports the package that imports it."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
