"""`python -m harness run|boards|build|bench`: the same code as the pytest plugin, from a shell."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from harness.build import REPO_ROOT

DEFAULT_BOARD = "qemu-stm32f4"


def _cmd_boards(_args: argparse.Namespace) -> int:
    from harness.boards import board_kinds

    for name, cls in board_kinds().items():
        print(f"{name:16s} {cls.description}")
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from harness.boards import get_board

    image = get_board(args.board).build()
    print(f"{args.board}: {image.path}")
    print(f"  build id {image.build_id_hex} ({'cached' if image.cached else 'built now'})")
    for key, value in image.sizes.items():
        print(f"  {key:10s} {value:>8,} B")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from harness import bench

    if args.what == "lstm":
        boards = args.board or [DEFAULT_BOARD, "host"]
        print(f"LSTM inference, 7 features -> 1, on {', '.join(boards)}; {args.repeats} windows of real weather data")
        print("MACs/seq = 4·H·(I+H) per layer per step; QEMU counts instructions exactly (-icount shift=0),")
        print("the host board counts wall-clock ns inside the firmware around the kernel call.\n")
        print(bench.format_lstm(bench.bench_lstm(boards, args.repeats)))
        return 0
    raise SystemExit(f"unknown benchmark {args.what!r}")


def _cmd_run(args: argparse.Namespace) -> int:
    import subprocess

    from harness import results, summary

    report_root = Path(args.report_dir)
    run_id = results.new_run_id()
    argv = [
        sys.executable, "-m", "pytest", str(REPO_ROOT / "tests" / "hil"),
        "--hil-report-dir", str(report_root), "--hil-run-id", run_id, "--hil-size", args.size,
        "-p", "no:cacheprovider", "-q",
    ]  # fmt: skip
    for b in args.board:
        argv += ["--hil-board", b]
    if args.link:
        argv += ["--hil-link", args.link]
    if args.k:
        argv += ["-k", args.k]
    argv += args.pytest_args
    print(f"HIL run {run_id}: boards {', '.join(args.board)}, size {args.size}")
    # a child process, so pytest imports (and assertion-rewrites) the harness itself, as the test command does
    code = subprocess.run(argv, cwd=REPO_ROOT, check=False).returncode
    run_dir = report_root / run_id
    print()
    print(summary.format_run(run_dir))
    print(f"\nresults: {run_dir / 'results.csv'}\njunit:   {run_dir / 'junit.xml'}")
    return int(code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the harness does")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the HIL suite on a board and write reports/<run_id>/")
    run.add_argument("--board", action="append", default=None, help=f"board name (default {DEFAULT_BOARD})")
    run.add_argument("--link", default=None, help="URL of an already running board instead of starting one")
    run.add_argument("-k", default=None, help="only tests matching this pytest -k expression")
    run.add_argument("--size", choices=("quick", "full"), default="quick", help="dataset windows per test")
    run.add_argument("--report-dir", default=str(REPO_ROOT / "reports"), help="root of run folders")
    run.add_argument("pytest_args", nargs="*", help="passed to pytest after --")
    run.set_defaults(func=_cmd_run)

    boards = sub.add_parser("boards", help="list the board kinds")
    boards.set_defaults(func=_cmd_boards)

    build = sub.add_parser("build", help="build (or reuse) a board's firmware image")
    build.add_argument("--board", default=DEFAULT_BOARD)
    build.set_defaults(func=_cmd_build)

    bench = sub.add_parser("bench", help="print benchmark figures")
    bench.add_argument("what", choices=("lstm",))
    bench.add_argument("--board", action="append", default=None, help="boards (default qemu-stm32f4 and host)")
    bench.add_argument("--repeats", type=int, default=5, help="windows per model")
    bench.set_defaults(func=_cmd_bench)

    args = parser.parse_args(argv)
    if getattr(args, "board", None) is None and args.command == "run":
        args.board = [DEFAULT_BOARD]
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
