"""The harness's pytest plugin (pytest11 entry point ``harness.plugin``; conftest.py names it too).

One module per concern, each registered below:

- ``options``    every ``--hil-*`` option and how a value is resolved (``request.param`` > command line > default)
- ``hooks``      the pytest hooks: run folder, frame logs, retries, failure classes, exit status, summary
- ``fixtures``   ``hil_session``, ``board``, ``link``, ``client``, ``deploy``, ``dataset``, ``record``, budgets
- ``run_folder`` where a run's rows, junit.xml and logs go; created only by a run that has a test needing it
- ``budgets``    the gate ``record`` applies to every row
- ``failures``   evidence and failure class of a failed test, run verdicts, exit status
- ``retries``    infrastructure failures run again with the board restarted
- ``frame_log``  one log per HIL test with every decoded frame
- ``progress``   live progress lines and the device's own text lines
- ``stash``      what a run keeps in ``config.stash`` (the keys, in one place, so no module imports another's)

Our names never reuse pytest-embedded's (``--port``, ``--target``, ``dut``, ``serial``, ``app``), so both plugins load
side by side and a test may use pytest-embedded's ``dut`` on one of our boards.
"""

pytest_plugins = ["harness.plugin.hooks", "harness.plugin.fixtures"]
