"""The WSGI entry point that `smartlinks admin` serves: each granian worker imports it and
reads the settings once."""

import sys

from admin import create_app
from core import config, logs

# A request thread that waited on I/O gets the GIL back within 1 ms (not 5) of asking, while
# other threads compute: one organisation's busy requests delay another's less.
SWITCH_INTERVAL = 0.001

sys.setswitchinterval(SWITCH_INTERVAL)
settings = config.load()
logs.setup("admin", settings.log_level)
app = create_app(settings=settings)
