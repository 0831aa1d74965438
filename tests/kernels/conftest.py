"""Builds the C kernels for the host as one shared library, for tests that call them through ctypes."""

from __future__ import annotations

import ctypes
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KERNEL_SOURCES = REPO / "firmware" / "src" / "kernels"
INCLUDE_DIR = REPO / "firmware" / "include"
# The MCU flags minus the target: the same warnings must stop a host build, so a kernel that only the MCU build
# would reject is caught here too.
WARNINGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wvla", "-Wdouble-promotion"]


def _status_codes() -> dict[str, int]:
    try:
        from harness.proto import wire
    except ImportError:
        pass
    else:
        codes = {name: getattr(wire, name) for name in dir(wire) if name == "HIL_OK" or name.startswith("HIL_ERR_")}
        if "HIL_OK" in codes and "HIL_ERR_BUFFER_TOO_SMALL" in codes:
            return codes
    # harness/proto/wire.py not there yet: read the numbers from the header the kernels were built with.
    text = (INCLUDE_DIR / "hil" / "hil_types.h").read_text()
    codes = {name: int(value) for name, value in re.findall(r"\b(HIL_(?:OK|ERR_\w+))\s*=\s*(\d+)", text)}
    if "HIL_OK" not in codes:
        raise RuntimeError("no HIL_OK/HIL_ERR_* values found in hil_types.h; update _status_codes to its format")
    return codes


STATUS = _status_codes()


@pytest.fixture(scope="session")
def status() -> dict[str, int]:
    """hil_status_t values by name (HIL_OK, HIL_ERR_...)."""
    return STATUS


@dataclass(frozen=True)
class KernelBuild:
    """What the kernels are compiled from: their sources and the flags every target shares."""

    sources: list[Path]
    cflags: list[str]
    directory: Path


@pytest.fixture(scope="session")
def kernel_build(tmp_path_factory: pytest.TempPathFactory) -> KernelBuild:
    build = tmp_path_factory.mktemp("kernels")
    # The kernels need no board: an hil_board_config.h that overrides nothing lets hil_config.h's defaults apply.
    (build / "hil_board_config.h").write_text("/* kernel tests: no board; hil_config.h defaults apply */\n")
    sources = sorted(KERNEL_SOURCES.rglob("*.c"))  # src/kernels/<family>/*.c
    if not sources:
        pytest.fail(f"no kernel sources in {KERNEL_SOURCES}", pytrace=False)
    # -I src/kernels: the kernels include their internal helpers as "support/hils_*.h"
    cflags = [*WARNINGS, f"-I{INCLUDE_DIR}", f"-I{KERNEL_SOURCES}", f"-I{build}"]
    return KernelBuild(sources=sources, cflags=cflags, directory=build)


@pytest.fixture(scope="session")
def kernel_lib(kernel_build: KernelBuild) -> ctypes.CDLL:
    """Every ``firmware/src/kernels/<family>/*.c`` compiled with the system compiler (``$CC``, default ``cc``)."""
    lib = kernel_build.directory / "libhil_kernels.so"
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-shared", "-fPIC", "-O2", *kernel_build.cflags, *map(str, kernel_build.sources), "-o", str(lib)]
    cmd.append("-lm")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        pytest.fail(f"C compiler {cc!r} not found: install one (apt-get install gcc) or set CC", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"kernel build failed:\n$ {shlex.join(cmd)}\n{proc.stdout}{proc.stderr}", pytrace=False)
    return ctypes.CDLL(str(lib))


def _cpu_has_fma() -> bool:
    try:
        return "fma" in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


@pytest.fixture(scope="session")
def fma_kernel_lib(kernel_build: KernelBuild, tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """The kernels with multiply-adds fused, as the Cortex-M4F board builds them (-ffp-contract=fast), on this CPU's
    FMA; skips where the CPU or compiler cannot reproduce that contraction."""
    if not _cpu_has_fma():
        pytest.skip("this CPU has no FMA: the contraction the M4F board allows cannot be reproduced on the host")
    lib = tmp_path_factory.mktemp("kernels_fma") / "libhil_kernels_fma.so"
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-shared", "-fPIC", "-O2", "-mfma", "-ffp-contract=fast", *kernel_build.cflags]
    cmd += [*map(str, kernel_build.sources), "-o", str(lib), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"{cc} cannot build with -mfma here:\n{proc.stderr}")
    return ctypes.CDLL(str(lib))
