"""Gatehouse settings, read from the environment and split by topic.

Nothing set: the embedded default (SQLite file, in-process cache, DEBUG on).
See the configuration table in README.md for every variable.
"""

from .auth import *
from .caps import *
from .core import *
from .data import *
from .docs import *
from .environment import BASE_DIR, env
from .oauth import *
from .rest import *
from .security import *
from .usage import *
from .webhooks import *
