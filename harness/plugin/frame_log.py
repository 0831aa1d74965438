"""One log file per HIL test, ``<run>/logs/<nodeid>.log``, with every decoded frame (the ``harness`` loggers at
DEBUG) while that test runs, retries included."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def log_path(run_dir: Path, nodeid: str) -> Path:
    return run_dir / "logs" / (re.sub(r"[^\w.\-\[\]]+", "_", nodeid) + ".log")


@contextmanager
def frame_log(run_dir: Path, nodeid: str) -> Iterator[Path]:
    path = log_path(run_dir, nodeid)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.setLevel(logging.DEBUG)
    logger = logging.getLogger("harness")
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield path
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        handler.close()
