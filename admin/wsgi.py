"""The WSGI entry point that `smartlinks admin` serves: each granian worker imports it and
reads the settings once."""

from admin import create_app
from core import config, logs

settings = config.load()
logs.setup("admin", settings.log_level)
app = create_app(settings=settings)
