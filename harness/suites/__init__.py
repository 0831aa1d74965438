"""Suites: what combines data, reference models and boards into something to run.

- ``studies``: the study models trained on shipped data (the IMU classifier, the electricity LSTM), shared by the HIL
  suite, the kernel tests and the benchmarks.
- ``quant``: every integer variant of those models, what goes to the device and how its answers are scored.
- ``bench``: benchmarks that print figures (``python -m harness bench``).

The layers below (models, datasets, boards, session) know nothing of these.
"""
