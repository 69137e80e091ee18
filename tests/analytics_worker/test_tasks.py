from __future__ import annotations

import gc

from celery.signals import worker_process_init

from analytics_worker import tasks  # noqa: F401 (connects the receiver under test)


def test_a_worker_process_freezes_its_boot_heap():
    gc.unfreeze()
    try:
        worker_process_init.send(sender=None)
        # Everything alive at boot is out of the collector's reach, this test module included.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
