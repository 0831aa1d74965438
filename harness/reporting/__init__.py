"""Run results and reporting: rows as they are measured, the run folder, history across runs, budgets, failure
classes, the JUnit outcomes, the terminal summary and the self-contained HTML report (checked in a real browser).

Nothing here talks to a board; the pytest side (``harness.plugin``) and the CLI write and read through it.
"""
