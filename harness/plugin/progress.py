"""Log handlers the plugin installs: live ``harness.progress`` lines past output capture (--hil-progress), and a
keeper of the text lines devices send (boot banner, HIL-FAULT), which failure classes read as evidence."""

from __future__ import annotations

import contextlib
import logging

import pytest

from harness.plugin.stash import DEVICE_TEXT_KEY

progress = logging.getLogger("harness.progress")


class TerminalProgress(logging.Handler):
    """Writes progress lines through pytest's terminal writer, past output capture, as live logging does."""

    def __init__(self, config: pytest.Config) -> None:
        super().__init__(logging.INFO)
        self.config = config

    def emit(self, record: logging.LogRecord) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        capman = self.config.pluginmanager.get_plugin("capturemanager")
        with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
            if reporter._tw.width_of_current_line:  # after pytest's dots: start a line of our own
                reporter.write("\n")
            reporter.write_line(self.format(record))


class DeviceText(logging.Handler):
    """Keeps the text lines devices send on their links (boot banner, HIL-FAULT)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("device text:"):
            self.lines.append(message)


def install(config: pytest.Config) -> None:
    """Attach the handlers for this run; they are removed when pytest unconfigures."""
    config.stash[DEVICE_TEXT_KEY] = []
    handlers: list[tuple[logging.Logger, logging.Handler]] = [
        (logging.getLogger("harness.wire"), DeviceText(config.stash[DEVICE_TEXT_KEY]))
    ]
    if config.getoption("--hil-progress"):
        handler = TerminalProgress(config)
        handler.setFormatter(logging.Formatter("  %(message)s"))
        progress.setLevel(logging.INFO)
        handlers.append((progress, handler))
    for logger, handler in handlers:
        logger.addHandler(handler)
    config.add_cleanup(lambda: [logger.removeHandler(handler) for logger, handler in handlers])
