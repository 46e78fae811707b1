"""The WSGI entry point that `smartlinks admin` serves."""

from admin import create_app
from core import config, logs

logs.setup("admin", config.env("LOG_LEVEL"))
app = create_app()
