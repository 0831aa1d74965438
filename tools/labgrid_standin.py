#!/usr/bin/env python3
"""Start or stop CI's labgrid bench: a real labgrid-coordinator and labgrid-exporter on 127.0.0.1 (free ports) and
two boards whose UARTs are pseudo-terminals, each /dev/pts/N exported as a RawSerialPort (the exporter serves it with
ser2net as rfc2217:// while its place is acquired) and matched by a place:

- place ``hil-host``: the host board, running; ``--hil-lg-place hil-host`` drives it as it is;
- place ``hil-qemu``: QEMU netduinoplus2 halted behind its GDB stub, nothing loaded (the bench stand-in of
  docs/bench.md); DIR/lab.toml gets the row ``[boards.lg-stm32f4]`` with ``place = "hil-qemu"`` and the stub as its
  gdb-remote flasher, so ``--hil-board lg-stm32f4`` builds, flashes and tests it through the place.

    tools/labgrid_standin.py start --dir .hil-cache/labgrid [--watch PID]
    export LG_COORDINATOR=$(cat .hil-cache/labgrid/coordinator.address)
    .venv/bin/pytest tests/hil --hil-lg-place hil-host --hil-board host
    .venv/bin/pytest tests/hil --hil-lab .hil-cache/labgrid/lab.toml --hil-board lg-stm32f4
    tools/labgrid_standin.py stop --dir .hil-cache/labgrid

`start` leaves a supervisor process running (its pid in DIR/standin.json) that owns every process of the bench; its
children die with it (parent-death signal), and it ends by itself when the process given by --watch ends, so an
interrupted CI job leaves nothing behind. `make test-labgrid` does all of this.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.boards import BoardOptions, get_board  # noqa: E402
from harness.boards import standin as bench_standin  # noqa: E402
from harness.boards.labgrid_place import LABGRID_VENV  # noqa: E402
from harness.lifetime import die_with_parent, process_alive, start_ticks  # noqa: E402
from harness.link import free_local_port  # noqa: E402

EXPORTER_NAME = "hil-standin"
GROUP = "hil"
QEMU_GROUP = "hil-qemu"
DEFAULT_PLACE = "hil-host"
DEFAULT_QEMU_PLACE = "hil-qemu"
QEMU_ROW = "lg-stm32f4"
STATE = "standin.json"


def _tool(name: str) -> str:
    path = LABGRID_VENV / "bin" / name
    if not path.is_file():
        sys.exit(f"labgrid standin: {path} is missing; run `make setup` (tools/bootstrap.sh installs labgrid there)")
    return str(path)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _client(coordinator: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LG_USERNAME": "hil-standin"}
    return subprocess.run([_tool("labgrid-client"), "-x", coordinator, *args], capture_output=True, text=True,
                          timeout=30, env=env, stdin=subprocess.DEVNULL)  # fmt: skip


def _spawn(argv: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    out.write(f"$ {' '.join(argv)}\n".encode())
    out.flush()
    # its own process group (the exporter's ser2net children with it), killed with this supervisor
    return subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                            process_group=0, preexec_fn=die_with_parent(signal.SIGTERM))  # fmt: skip


def _end(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group (ser2net)
    proc.wait()


def serve(folder: Path, place: str, qemu_place: str, watch: int | None) -> int:
    """The supervisor: runs the bench until SIGTERM (or until --watch's process ends)."""
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    watch_ticks = start_ticks(watch) if watch else None
    procs: list[subprocess.Popen[bytes]] = []
    board = get_board("host", BoardOptions(log_dir=folder, extra={"link": "pty"}))
    qemu: bench_standin.Standin | None = None
    try:
        board.flash(board.build())
        pty = board.start()
        qemu = bench_standin.start(folder / "qemu.log", pty=True, tied=True)
        # the coordinator keeps its places in its working folder: a fresh one each start
        state_dir = folder / "coordinator"
        state_dir.mkdir(parents=True, exist_ok=True)
        for stale in ("places.yaml", "resources.yaml"):
            (state_dir / stale).unlink(missing_ok=True)
        for _attempt in range(5):  # a free port may be taken between the probe and the bind
            port = free_local_port()
            coord = _spawn([_tool("labgrid-coordinator"), "-l", f"127.0.0.1:{port}"], folder / "coordinator.log",
                           state_dir)  # fmt: skip
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and coord.poll() is None and not _listening(port):
                time.sleep(0.05)
            if coord.poll() is None and _listening(port):
                break
            _end(coord)
        else:
            raise RuntimeError(f"labgrid-coordinator did not start; see {folder / 'coordinator.log'}")
        procs.append(coord)
        address = f"127.0.0.1:{port}"
        config = folder / "exporter.yaml"
        # no comment line: labgrid reads the file as a Jinja template, where '#' starts a line statement
        config.write_text(f"{GROUP}:\n  RawSerialPort:\n    port: {pty}\n    speed: 115200\n"
                          f"{QEMU_GROUP}:\n  RawSerialPort:\n    port: {qemu.pty}\n    speed: 115200\n")  # fmt: skip
        procs.append(_spawn([_tool("labgrid-exporter"), "-c", address, "--hostname", "127.0.0.1", "-n",
                             EXPORTER_NAME, str(config)], folder / "exporter.log", folder))  # fmt: skip
        for name, group, what in (
            (place, GROUP, f"host board on {pty}"),
            (qemu_place, QEMU_GROUP, f"QEMU halted behind GDB stub {qemu.gdb}, UART {qemu.pty}"),
        ):
            for args in (("create",), ("add-match", f"{EXPORTER_NAME}/{group}/*"),
                         ("set-comment", f"tools/labgrid_standin.py: {what}")):  # fmt: skip
                done = _client(address, "-p", name, *args)
                if done.returncode != 0:
                    raise RuntimeError(f"labgrid-client -p {name} {' '.join(args)}: {done.stderr or done.stdout}")
            deadline = time.monotonic() + 20
            while "Matching resource" not in (shown := _client(address, "-p", name, "show").stdout):
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError(f"the exporter's resource never reached the coordinator; see "
                                       f"{folder}/*.log:\n{shown}")  # fmt: skip
                time.sleep(0.2)
        (folder / "lab.toml").write_text(
            f"# written by tools/labgrid_standin.py: QEMU {bench_standin.MACHINE} behind labgrid place {qemu_place}\n"
            f'[boards.{QEMU_ROW}]\nkind = "{bench_standin.KIND}"\nplace = "{qemu_place}"\n'
            f'flasher = "gdb-remote"\ngdb = "{qemu.gdb}"\nreset = "system_reset"\n'
        )
        (folder / "coordinator.address").write_text(address + "\n")
        state = {"pid": os.getpid(), "start_ticks": start_ticks(os.getpid()), "coordinator": address,
                 "place": place, "pty": pty, "qemu_place": qemu_place, "qemu_pty": qemu.pty, "gdb": qemu.gdb,
                 "lab": str(folder / "lab.toml"), "exporter": EXPORTER_NAME, "ready": True}  # fmt: skip
        (folder / STATE).write_text(json.dumps(state, indent=2) + "\n")
        print(
            f"labgrid standin ready: coordinator {address}, places {place} (host board on {pty}) and "
            f"{qemu_place} (QEMU on {qemu.pty}, GDB stub {qemu.gdb})",
            flush=True,
        )
        while not stop:
            if any(p.poll() is not None for p in procs):
                print("labgrid standin: a labgrid process ended; stopping", flush=True)
                break
            if watch and not process_alive(watch, watch_ticks):
                break
            time.sleep(0.2)
        return 0
    except Exception as exc:
        (folder / STATE).write_text(json.dumps({"pid": os.getpid(), "ready": False, "error": str(exc)}) + "\n")
        raise
    finally:
        for proc in reversed(procs):
            _end(proc)
        board.stop()
        if qemu is not None:
            bench_standin.stop(qemu.pid)


def _load(folder: Path) -> dict | None:
    try:
        return json.loads((folder / STATE).read_text())
    except (OSError, ValueError):
        return None


def stop(folder: Path, timeout: float = 15.0) -> None:
    state = _load(folder)
    if not state:
        print(f"labgrid standin: none recorded in {folder}")
        return
    pid = int(state["pid"])
    if process_alive(pid, state.get("start_ticks")):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)
    (folder / STATE).unlink(missing_ok=True)
    (folder / "coordinator.address").unlink(missing_ok=True)
    print(f"labgrid standin: stopped (supervisor pid {pid})")


def start(folder: Path, place: str, qemu_place: str, watch: int | None, timeout: float = 120.0) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    stop(folder)  # one left over from an interrupted run
    argv = [sys.executable, __file__, "serve", "--dir", str(folder), "--place", place, "--qemu-place", qemu_place]
    if watch:
        argv += ["--watch", str(watch)]
    with (folder / "supervisor.log").open("ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _load(folder)
        if state and state.get("pid") == proc.pid:
            if state.get("ready"):
                print(f"labgrid standin: coordinator {state['coordinator']}; place {state['place']}: host board on "
                      f"{state['pty']}; place {state['qemu_place']}: QEMU on {state['qemu_pty']}, row "
                      f"[boards.{QEMU_ROW}] in {state['lab']}; LG_COORDINATOR={state['coordinator']}")  # fmt: skip
                return 0
            break
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)  # its traceback, into the log
    tail = (folder / "supervisor.log").read_text(errors="replace")[-3000:]
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    print(f"labgrid standin: did not start; {folder}/supervisor.log ends:\n{tail}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("start", "stop", "serve"))
    parser.add_argument("--dir", type=Path, default=REPO / ".hil-cache" / "labgrid", help="state and log folder")
    parser.add_argument("--place", default=DEFAULT_PLACE, help=f"the host board's place (default {DEFAULT_PLACE})")
    parser.add_argument("--qemu-place", default=DEFAULT_QEMU_PLACE,
                        help=f"the QEMU board's place (default {DEFAULT_QEMU_PLACE})")  # fmt: skip
    parser.add_argument("--watch", type=int, default=None, help="stop when the process with this pid ends")
    args = parser.parse_args(argv)
    folder = args.dir.resolve()
    if args.action == "stop":
        stop(folder)
        return 0
    if args.action == "serve":
        return serve(folder, args.place, args.qemu_place, args.watch)
    return start(folder, args.place, args.qemu_place, args.watch)


if __name__ == "__main__":
    sys.exit(main())
