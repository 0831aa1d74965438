"""Tasks: what a model is fed, one module per kind. Forecast windows and anomaly streams from a csv dataset,
standardised (windowed) cases, and novelty detection across subjects from recordings; each can be read from the
manifest's ``[task]``.
"""

from __future__ import annotations

from harness.datasets.tasks.anomaly import AnomalyTask, LabelledStream
from harness.datasets.tasks.classification import ClassificationTask
from harness.datasets.tasks.forecast import ForecastTask, ForecastWindows, forecast_windows
from harness.datasets.tasks.novelty import NoveltyTask

__all__ = [
    "AnomalyTask",
    "ClassificationTask",
    "ForecastTask",
    "ForecastWindows",
    "LabelledStream",
    "NoveltyTask",
    "forecast_windows",
]
