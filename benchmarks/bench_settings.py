"""Settings for ``make bench``: the portal's own settings plus the comparison.

Everything on the measured path (middleware, REST framework defaults,
database and cache) is the portal's configuration, read from the environment
``benchmarks/run.py`` sets. Only these things differ:

- ``rest_framework_api_key`` is installed (from the ``bench`` extra), so the
  same book endpoint can be served behind its ``HasAPIKey`` for comparison;
- the URLconf adds the comparison routes beside the portal's own;
- REST framework gets the ``bench`` throttle rate (50/min) that the
  over-admission comparison's ``ScopedRateThrottle`` route needs;
- static files use the plain storage: the manifest storage the portal uses
  with DEBUG off needs ``collectstatic``, which a benchmark should not need.
"""

from __future__ import annotations

import warnings

from portal.settings import *  # noqa: F403
from portal.settings import INSTALLED_APPS, REST_FRAMEWORK, STORAGES

INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework_api_key"]
ROOT_URLCONF = "benchmarks.bench_urls"
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"bench": "50/min"}}
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# No collectstatic, so STATIC_ROOT does not exist: whitenoise would say so
# once per worker, which is noise here.
warnings.filterwarnings("ignore", "No directory at", UserWarning)
