"""Exit non-zero with one clear line when the configured Redis does not answer (used by make)."""

from __future__ import annotations

import os
import sys

import redis
from dotenv import load_dotenv


def main() -> int:
    load_dotenv(".env")
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379").strip() or "redis://127.0.0.1:6379"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        print(
            f"Redis is not reachable at {url} ({exc.__class__.__name__}). Start it with "
            "`redis-server --daemonize yes` (or set REDIS_URL in .env), then run make again.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
