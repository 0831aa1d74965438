#!/usr/bin/env python3
"""Start or stop the CI's bench stand-in: QEMU netduinoplus2 halted with its GDB stub, and a lab.toml row for it.

    tools/bench_standin.py start --lab .hil-cache/bench/lab.toml [--name bench-stm32f4]
    .venv/bin/python -m pytest tests/hil --hil-lab .hil-cache/bench/lab.toml --hil-board bench-stm32f4
    tools/bench_standin.py stop --lab .hil-cache/bench/lab.toml

`make test` does these three (see the Makefile's test-bench target).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.boards import standin as bench_standin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--lab", type=Path, required=True, help="the lab.toml to write (start) or read (stop)")
    parser.add_argument("--name", default=bench_standin.DEFAULT_NAME, help="the row's name (--hil-board)")
    args = parser.parse_args(argv)
    running = bench_standin.load(args.lab)
    if args.action == "stop":
        if running is None:
            print(f"bench stand-in: none recorded for {args.lab}")
            return 0
        bench_standin.stop(running.pid)
        bench_standin.state_path(args.lab).unlink(missing_ok=True)
        print(f"bench stand-in: stopped QEMU pid {running.pid}")
        return 0
    if running is not None:
        bench_standin.stop(running.pid)  # a stand-in left over from an interrupted run
    found = bench_standin.start(args.lab.with_name(args.lab.name + ".qemu.log"))
    bench_standin.save(args.lab, found, args.name)
    print(f"bench stand-in: QEMU pid {found.pid}, GDB stub {found.gdb}, serial {found.serial}; row "
          f"[boards.{args.name}] in {args.lab}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
