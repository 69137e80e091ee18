"""`python -m tests.drills.launch_worker <celery args>`: the real Celery worker, with the Genesys
client's retry backoff scaled by DRILL_BACKOFF_SCALE.

A drill must see a whole retry sequence (six attempts, up to 30 s apart in production) in a few
seconds. Scaling the two backoff constants is the only change; Retry-After from Genesys is still
honoured exactly, and the constants themselves are tested in tests/analytics_worker.
"""

from __future__ import annotations

import os
import sys

from celery.__main__ import main

from analytics_worker.genesys import http

scale = float(os.environ.get("DRILL_BACKOFF_SCALE", "1"))
http.BACKOFF_BASE_SECONDS *= scale
http.BACKOFF_CAP_SECONDS *= scale

if __name__ == "__main__":
    sys.argv = ["celery", *sys.argv[1:]]
    sys.exit(main())
