"""Django settings of the benchmarks' server: the product's own settings, plus the baseline's
views (bench/urls.py) and a static root of the run's own (collectstatic runs before it starts).

Everything else comes from the environment exactly as in production (bench/stack.py sets it).
"""

from __future__ import annotations

from config.settings import *  # noqa: F403
from config.settings import STATIC_ROOT, env_str

ROOT_URLCONF = "bench.urls"
STATIC_ROOT = env_str("BENCH_STATIC_ROOT", str(STATIC_ROOT))
