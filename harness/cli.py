"""`python -m harness run|validate|report|baseline|boards|build|bench`: the same code as the pytest plugin, from a
shell."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.defaults import DEFAULT_BASELINES, DEFAULT_BOARD, DEFAULT_REPORTS, REPO_ROOT

if TYPE_CHECKING:
    from harness.lab import Lab


def _lab(explicit: str | None) -> Lab | None:
    """The bench inventory (--lab, $HIL_LAB, ./lab.toml), or None. A broken one raises LabError, which main() turns
    into exit 2 with its file and line on stderr."""
    from harness.lab import find_lab, load_lab

    path = find_lab(explicit)
    return load_lab(path) if path is not None else None


def _cmd_boards(args: argparse.Namespace) -> int:
    from harness.boards import board_kinds
    from harness.boards.bench import port_present
    from harness.flashing import get_flasher
    from harness.lease import holder_of, row_key

    for name, cls in board_kinds().items():
        print(f"{name:16s} {cls.description}")
    lab = _lab(args.lab)
    if lab is None:
        print("\nno bench inventory (--lab PATH, $HIL_LAB or ./lab.toml; docs/bench.md)")
        return 0
    print(f"\nbench rows in {lab.path}:")
    for name, row in lab.rows.items():
        flasher = get_flasher(row.flasher)
        tool = "needs no tool" if not flasher.tools else (flasher.executable() or f"MISSING: {flasher.install}")
        print(f"{name:16s} kind {row.kind}, flasher {row.flasher}{f' (probe {row.probe})' if row.probe else ''}")
        if row.place:
            print(f"{'':16s}   place   {_place_state(row.place)}")
        else:
            present, why = port_present(row.serial)
            print(f"{'':16s}   port    {row.serial}: {'present' if present else 'ABSENT'}, {why}")
        print(f"{'':16s}   flasher {tool}")
        if row.gdb:
            present, why = port_present(f"socket://{row.gdb}")
            print(f"{'':16s}   gdb     {row.gdb}: {'present' if present else 'ABSENT'}, {why}")
        if not row.place:  # a place's lock is its coordinator's, shown above
            holder = holder_of(row_key(name))
            print(f"{'':16s}   lease   {'held by ' + holder.describe() if holder else 'free'}")
    return 0


def _place_state(place: str) -> str:
    """A labgrid place as its coordinator sees it: who holds it, or why it cannot be asked."""
    from harness.boards import BoardError
    from harness.boards.labgrid_place import Place

    try:
        holder = Place(place).show().holder
    except BoardError as exc:
        return f"labgrid place {place}: cannot ask its coordinator: {exc}"
    return f"labgrid place {place}: {'held by ' + holder.describe() if holder else 'free'}"


def _cmd_build(args: argparse.Namespace) -> int:
    from harness.boards import get_board

    image = get_board(args.board, lab=_lab(args.lab)).build()
    print(f"{args.board}: {image.path}")
    print(f"  build id {image.build_id_hex} ({'cached' if image.cached else 'built now'})")
    for key, value in image.sizes.items():
        print(f"  {key:10s} {value:>8,} B")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from harness.suites import bench

    if args.what == "lstm":
        boards = args.board or [DEFAULT_BOARD, "host"]
        print(f"LSTM inference, 7 features -> 1, on {', '.join(boards)}; {args.repeats} windows of real weather data")
        print("MACs/seq = 4·H·(I+H) per layer per step; QEMU counts instructions exactly (-icount shift=0),")
        print("the host board counts wall-clock ns inside the firmware around the kernel call; anchor: instructions")
        print("per MAC of CMSIS-NN's float32 LSTM for the same shape on the same emulated Cortex-M4F (-O3).\n")
        print(bench.format_lstm(bench.bench_lstm(boards, args.repeats)))
        return 0
    if args.what == "train":
        boards = args.board or [DEFAULT_BOARD, "host"]
        print(
            f"LSTM training step (forward + BPTT + Adam update, batch 1) against one forward pass, on "
            f"{', '.join(boards)}; {args.repeats} windows each"
        )
        print("RAM needed = model blob + gradient + Adam state + backward scratch (gates recomputed from c, h).\n")
        print(bench.format_train(bench.bench_train(boards, args.repeats)))
        return 0
    if args.what == "esn":
        boards = args.board or [DEFAULT_BOARD, "host"]
        print(f"Echo State Network trained on the device: the water-flow autoencoder (K = 1) at N = "
              f"{', '.join(map(str, bench.ESN_UNITS))} units, on {', '.join(boards)}")  # fmt: skip
        print("Counter units: instructions on QEMU (exact under -icount shift=0), wall-clock time on the host;")
        print("update = one reservoir step (N(N+K+1) MACs + N tanh), accumulate = A += z z^T, B += z y^T per training")
        print("sample, fit = Cholesky ridge solve, score = update + readout + squared error per sample.\n")
        print(bench.format_esn(bench.bench_esn(boards)))
        return 0
    if args.what == "quant":
        from harness.boards import board_kinds
        from harness.suites import quant as qs

        boards = args.board or [b for b in (DEFAULT_BOARD, "qemu-cm3") if b in board_kinds()]
        windows = {qs.IMU: args.windows, qs.ELECTRICITY: args.windows or 1000, qs.BEIJING: args.windows or 8}
        print(
            f"Quantized inference on {', '.join(boards)}: every variant of the IMU classifier (180-50-15-4, "
            "BasicMotions test windows) and the electricity LSTM(32)x24 (test split), and the LSTM(128)x168 of 7 "
            "Beijing channels (random weights) as float32, int16, int8 and Q m.n; float32 first.\n"
            f"per inference: median counter units (QEMU: instructions, exact) of {args.repeats} windows sent one at a "
            "time; per MAC = that / MACs;\nf32/this = float32's count over this variant's; weights = the blob; "
            "arena, stack = high-water marks from a fresh boot.\nquality: accuracy against the labels, or RMSE/MAE "
            "against the next hour (min-max scaled); vs float32: agreement of the\npredicted class, or RMSE against "
            "the float model's forecast. The host quantizes inputs; integer outputs are compared\nwith the numpy "
            "reference bit for bit.\n"
        )

        def measured(f: bench.QuantFigure) -> None:  # progress: the table comes at the end
            print(f"  measured {f.board} {f.model} {f.variant}: {f.per_inference:,.0f} {f.unit} "
                  f"({f.per_inference / f.macs:.2f} per MAC)", file=sys.stderr, flush=True)  # fmt: skip

        print(bench.format_quant(bench.bench_quant(boards, windows, timed=args.repeats, on_figure=measured)))
        return 0
    if args.what == "cycles":
        import tempfile

        board = (args.board or [DEFAULT_BOARD])[0]
        print(
            f"Cortex-M4 cycles of one inference of each quant-study model on {board}: QEMU writes the instructions it "
            "executes (-d exec,in_asm),\nharness/cycles.py prices them with the Cortex-M4's instruction timings. An "
            "estimate beside the exact instruction count; a real board's DWT cycle counter is the measurement.\n"
        )

        def priced(f: bench.CycleFigure) -> None:
            print(f"  priced {f.model} {f.variant}: {f.estimate.instructions:,} instructions, "
                  f"{f.estimate.cycles:,} cycles", file=sys.stderr, flush=True)  # fmt: skip

        with tempfile.TemporaryDirectory(prefix="hil-cycles-") as tmp:
            print(bench.format_cycles(bench.bench_cycles(board, Path(tmp), on_figure=priced)))
        return 0
    if args.what == "pipeline":
        from harness.suites import pipeline

        boards = args.board or [DEFAULT_BOARD]
        print(f"Bulk LSTM(32)x24 inference (7 Beijing channels, {args.windows or 40} test windows) over a link paced "
              f"at {args.baud} baud, 8N1, on {', '.join(boards)}: stop-and-wait against requests in flight, each "
              "window's time\nagainst max(wire, compute), how busy the line to the device was, and payload over "
              "wire bytes.\n")  # fmt: skip
        print(pipeline.format_figures(pipeline.bench_pipeline(boards, windows=args.windows or 40, baud=args.baud)))
        return 0
    if args.what == "split":
        from harness.suites import distributed

        board = (args.board or [distributed.PEER_BOARDS[0]])[0]
        print(f"An LSTM split by layer over two {board} boards joined by a UART (docs/distributed.md): outputs, "
              "instructions per step on each board,\nlink bytes per step, arena, and the step time on the target "
              "chip at a few link rates.\n")  # fmt: skip
        print(distributed.bench_split(board, windows=args.windows or 8))
        return 0
    raise SystemExit(f"unknown benchmark {args.what!r}")


def _split_targets(targets: list[str]) -> tuple[list[str], list[str]]:
    """``run``'s positional words: test files or folders that exist (``path`` or ``path::test``, absolute, since
    pytest runs from the repository), then whatever else goes to pytest as it is."""
    paths, rest = [], []
    for word in targets:
        path, sep, node = word.partition("::")
        where = Path(path).expanduser()
        if not rest and not word.startswith("-") and where.exists():
            paths.append(f"{where.resolve()}{sep}{node}")
        else:
            rest.append(word)
    return paths, rest


def _cmd_run(args: argparse.Namespace) -> int:
    import signal
    import subprocess

    from harness.datasets.store import ENV_VAR as DATASETS_ENV
    from harness.lifetime import die_with_parent
    from harness.reporting import results, runs, summary

    # pytest runs in the repository: every path the user gave is made absolute from where they gave it
    report_root = Path(args.report_dir).expanduser().resolve()
    run_id = results.new_run_id()
    paths, pytest_args = _split_targets(args.pytest_args)
    argv = [
        sys.executable, "-m", "pytest", *(paths or [str(REPO_ROOT / "tests" / "hil")]),
        "--hil-report-dir", str(report_root), "--hil-run-id", run_id, "--hil-size", args.size,
        "--hil-retries", str(args.retries), "--hil-progress", "-p", "no:cacheprovider", "-q",
        # the repository's settings, also for test files outside it (pytest would look for settings beside those):
        # xunit1 keeps the failure-class properties in junit.xml; pytest-embedded's API note is noise
        "-o", "junit_family=xunit1", "-W", "ignore::pytest.PytestExperimentalApiWarning",
    ]  # fmt: skip
    for b in args.board:
        argv += ["--hil-board", b]
    if args.link:
        argv += ["--hil-link", args.link]
    if args.lab:
        argv += ["--hil-lab", str(Path(args.lab).expanduser().resolve())]
    if args.k:
        argv += ["-k", args.k]
    if args.baselines:
        args.baselines = str(Path(args.baselines).expanduser().resolve())
        argv += ["--hil-baselines", args.baselines]
    if args.workers:
        # pytest-xdist: each worker starts (or, from a pool, leases) boards of its own; a test file stays on one
        # worker, so its module fixtures (a trained model, a dataset) are made once
        argv += ["-n", str(args.workers), "--dist", "loadfile"]
    argv += pytest_args
    what = ", ".join(paths) if paths else "the HIL suite"
    baselines_dir = Path(args.baselines) if args.baselines else DEFAULT_BASELINES
    for killed in runs.recover_abandoned(report_root, baselines_dir=baselines_dir):
        print(f"finished run {killed.name}, which was killed before it finished: its rows are in the history "
              f"marked incomplete", flush=True)  # fmt: skip
    run_dir = report_root / run_id
    runs.begin_run(run_dir, command=args.command_line, size=args.size)
    print(f"HIL run {run_id}: {what} on boards {', '.join(args.board)}, size {args.size}", flush=True)
    # a child process, so pytest imports (and assertion-rewrites) the harness itself, as the test command does;
    # and so a pytest that crashes still leaves this process to finish the run folder. It is stopped (SIGTERM, which
    # the plugin turns into a clean stop) when this process dies, even by kill -9.
    env = dict(os.environ)
    if env.get(DATASETS_ENV):  # relative entries were meant from the user's folder, not the repository
        env[DATASETS_ENV] = os.pathsep.join(str(Path(p).expanduser().resolve()) if p else p
                                            for p in env[DATASETS_ENV].split(os.pathsep))  # fmt: skip
    code = subprocess.run(argv, cwd=REPO_ROOT, env=env, check=False,
                          preexec_fn=die_with_parent(signal.SIGTERM)).returncode  # fmt: skip
    killed_by = f"pytest was killed by {signal.Signals(-code).name}" if code < 0 else None
    done = runs.finish_run(run_dir, report_root, exit_status=code, command=args.command_line, size=args.size,
                           baselines_dir=baselines_dir, browser=not args.no_browser, incomplete=killed_by)  # fmt: skip
    print()
    print(summary.format_run(run_dir, baselines_dir=baselines_dir))
    print(f"\nexit status {code}: {runs.EXIT_MEANINGS.get(code, 'see pytest')}")
    if (run_dir / "results.parquet").is_file():
        print(f"rows:    {run_dir / 'results.parquet'} (and results.csv)")
    print(f"junit:   {run_dir / 'junit.xml'}")
    if done.history_file:
        print(f"history: {done.history_file.parent} (pd.read_parquet reads the folder)")
    if done.screenshot:
        print(f"screenshot: {done.screenshot}")
    if done.browser_problems:
        print(f"the report shows problems in a browser:\n{done.browser_problems}")
    if done.report:
        print(f"report:  {done.report}")
    return int(code)


def _cmd_validate(args: argparse.Namespace) -> int:
    """A model file on a board, three ways: `run` with the validate test (harness/suites/validate_case.py), so the
    run folder, rows, report, budgets and exit codes are those of any run."""
    from harness.importers import FrameworkMissing, ImportRefused, load_model

    model = Path(args.model).expanduser().resolve()
    try:
        imported = load_model(model)  # refuse here, before a board starts, what cannot be mapped
    except (FileNotFoundError, ImportRefused, FrameworkMissing) as exc:
        print(f"validate: {exc}", file=sys.stderr)
        return 2
    print(imported.describe(), flush=True)
    dataset = args.dataset
    if Path(dataset).expanduser().suffix.lower() == ".csv":
        dataset = str(Path(dataset).expanduser().resolve())
    args.pytest_args = [str(REPO_ROOT / "harness" / "suites" / "validate_case.py"), "--hil-validate-model", str(model),
                        "--hil-validate-dataset", dataset]  # fmt: skip
    if args.windows is not None:
        args.pytest_args += ["--hil-validate-windows", str(args.windows)]
    args.board = args.board or [DEFAULT_BOARD]
    args.k, args.workers = None, 0
    return _cmd_run(args)


def _cmd_report(args: argparse.Namespace) -> int:
    from harness.reporting import history, runs

    report_root = Path(args.report_dir)
    run_dir = runs.find_run(report_root, args.run_id)
    if (run_dir / "results.csv").is_file():
        history.write_parquet(run_dir)
    done = runs.Finished(run_dir)
    from harness.reporting import html_report

    baselines_dir = Path(args.baselines) if args.baselines else DEFAULT_BASELINES
    done.report = html_report.build_report(run_dir, baselines_dir=baselines_dir, report_root=report_root)
    if args.screenshot:
        runs.check_in_browser(done)
        if done.browser_skipped:
            print(f"no screenshot: {done.browser_skipped}")
        if done.screenshot:
            print(f"screenshot: {done.screenshot}")
        if done.browser_problems:
            print(f"the report shows problems in a browser:\n{done.browser_problems}")
    print(f"report: {done.report}")
    return 1 if done.browser_problems else 0


def _cmd_baseline(args: argparse.Namespace) -> int:
    from harness.reporting import baselines, history, runs
    from harness.reporting.junit import read_outcomes

    run_dir = runs.find_run(Path(args.report_dir), args.run_id)
    if args.run_id is None:
        print(f"accepting the newest run, {run_dir.name}")
    rows = history.read_run(run_dir)
    directory = Path(args.baselines)
    boards = args.board or sorted(b for b in rows["board"].unique() if b)
    failed = [o.nodeid for o in read_outcomes(run_dir) if o.outcome in ("failed", "error")]
    if failed:
        print(f"note: {len(failed)} test(s) of {run_dir.name} failed; their figures are taken as measured")
    changed = 0
    for board in boards:
        path = baselines.baseline_path(directory, board)
        old = baselines.BudgetBook.load(path, board) if path.is_file() else None
        new = baselines.accept(rows, board, old, run_id=run_dir.name)
        old_text = path.read_text(encoding="utf-8") if path.is_file() else ""
        new_text = new.dumps()
        if not new.budgets:
            print(f"{board}: the run measured nothing that has a budget")
            continue
        diff = baselines.unified_diff(
            old_text, new_text, path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
        )
        if not diff:
            print(f"{board}: {path} unchanged")
            continue
        changed += 1
        print(diff, end="")
        if not args.dry_run:
            new.write(path)
    if changed and not args.dry_run:
        print(f"\nwrote {changed} baseline file(s); review the diff above and commit them")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the harness does")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="run the HIL suite (or the test files and folders named) on a board and write reports/<run_id>/",
        usage="python -m harness run [options] [PATH ...] [-- pytest arguments]",
    )
    run.add_argument("--board", action="append", default=None, help=f"board name (default {DEFAULT_BOARD})")
    run.add_argument("--link", default=None, help="URL of an already running board instead of starting one")
    run.add_argument("--lab", default=None, help="bench inventory whose rows --board may name (default $HIL_LAB)")
    run.add_argument("-k", default=None, help="only tests matching this pytest -k expression")
    run.add_argument("--size", choices=("quick", "full"), default="quick", help="dataset windows per test")
    run.add_argument("--report-dir", default=str(DEFAULT_REPORTS), help="root of run folders")
    run.add_argument("--retries", type=int, default=1, help="retries of a test after a flash/link/board failure")
    run.add_argument("--baselines", default=None, help="folder of <board>.toml budgets (default reports/baselines)")
    run.add_argument("--no-browser", action="store_true", help="skip opening the report in headless Chromium")
    run.add_argument("-n", "--workers", type=int, default=0, metavar="N",
                     help="run the tests in N parallel pytest-xdist workers, each with boards of its own (default: one "
                     "process)")  # fmt: skip
    run.add_argument(
        "pytest_args", nargs="*", metavar="PATH | pytest argument",
        help="test files or folders to run instead of tests/hil (your own, anywhere); after -- anything for pytest",
    )  # fmt: skip
    run.set_defaults(func=_cmd_run)

    rep = sub.add_parser("report", help="(re)build reports/<run_id>/report.html from the run's rows")
    rep.add_argument("run_id", nargs="?", default=None, help="run folder name (default: the newest run)")
    rep.add_argument("--report-dir", default=str(DEFAULT_REPORTS), help="root of run folders")
    rep.add_argument("--baselines", default=None, help="budgets when the run folder has no copy of its own")
    rep.add_argument("--screenshot", action="store_true", help="also open it in headless Chromium: report.png")
    rep.set_defaults(func=_cmd_report)

    base = sub.add_parser("baseline", help="budgets in reports/baselines/")
    base_sub = base.add_subparsers(dest="action", required=True)
    acc = base_sub.add_parser("accept", help="write a run's figures as the new baseline and print the diff")
    acc.add_argument("run_id", nargs="?", default=None, help="run folder name under --report-dir (default: the newest)")
    acc.add_argument("--report-dir", default=str(DEFAULT_REPORTS), help="root of run folders")
    acc.add_argument("--baselines", default=str(DEFAULT_BASELINES), help="baseline folder")
    acc.add_argument("--board", action="append", default=None, help="only this board (default: every board)")
    acc.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    acc.set_defaults(func=_cmd_baseline)

    boards = sub.add_parser("boards", help="list the board kinds and the bench rows, with what is present here")
    boards.add_argument("--lab", default=None, help="the bench inventory (default $HIL_LAB, else ./lab.toml)")
    boards.set_defaults(func=_cmd_boards)

    build = sub.add_parser("build", help="build (or reuse) a board's firmware image")
    build.add_argument("--board", default=DEFAULT_BOARD, help="a board kind, or a row of the bench inventory")
    build.add_argument("--lab", default=None, help="the bench inventory (default $HIL_LAB, else ./lab.toml)")
    build.set_defaults(func=_cmd_build)

    val = sub.add_parser(
        "validate",
        help="validate a model file (.onnx, .tflite, .keras, .pt) on a board against its own framework and the "
        "numpy reference, on real windows; writes reports/<run_id>/ (docs/validate.md)",
    )
    val.add_argument("model", help="the model file")
    val.add_argument("--dataset", required=True, help="a dataset of datasets/ (its test split) or a CSV file")
    val.add_argument("--board", action="append", default=None, help=f"board name (default {DEFAULT_BOARD})")
    val.add_argument(
        "--windows", type=int, default=None, help="windows to compare (default: 6 with --size quick, 48 with full)"
    )
    val.add_argument("--size", choices=("quick", "full"), default="quick", help="windows when --windows is not given")
    val.add_argument("--link", default=None, help="URL of an already running board instead of starting one")
    val.add_argument("--lab", default=None, help="bench inventory whose rows --board may name (default $HIL_LAB)")
    val.add_argument("--report-dir", default=str(DEFAULT_REPORTS), help="root of run folders")
    val.add_argument("--retries", type=int, default=1, help="retries after a flash/link/board failure")
    val.add_argument("--baselines", default=None, help="folder of <board>.toml budgets (default reports/baselines)")
    val.add_argument("--no-browser", action="store_true", help="skip opening the report in headless Chromium")
    val.set_defaults(func=_cmd_validate)

    bench = sub.add_parser("bench", help="print benchmark figures")
    bench.add_argument("what", choices=("lstm", "train", "esn", "quant", "cycles", "pipeline", "split"))
    bench.add_argument("--board", action="append", default=None, help="boards (default qemu-stm32f4 and host)")
    bench.add_argument("--repeats", type=int, default=5, help="windows per model")
    bench.add_argument(
        "--windows",
        type=int,
        default=None,
        help="quant: held-out windows per model (default: 320 IMU, 1000 forecast); pipeline: windows per run "
        "(default 40); split: sequences (default 8)",
    )
    bench.add_argument("--baud", type=int, default=115200, help="pipeline: the UART rate the link is paced at")
    bench.set_defaults(func=_cmd_bench)

    args = parser.parse_args(argv)
    args.command_line = "python -m harness " + " ".join(sys.argv[1:] if argv is None else argv)
    if getattr(args, "board", None) is None and args.command == "run":
        args.board = [DEFAULT_BOARD]
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    from harness.lab import LabError

    try:
        return args.func(args)
    except LabError as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
