#!/usr/bin/env bash
# Make this machine able to build and run the harness: system tools (CMake, the Cortex-M cross compiler with
# newlib, QEMU, clang-format) from the distribution when they are missing, then the Python virtual environment.
# Idempotent: a second run checks and does nothing. Called by `make setup` (and so by `make run` / `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

need_pkgs=()
command -v cmake >/dev/null || need_pkgs+=(cmake)
command -v arm-none-eabi-gcc >/dev/null || need_pkgs+=(gcc-arm-none-eabi)
# newlib is what the MCU image links against; the compiler package alone does not bring it
if command -v arm-none-eabi-gcc >/dev/null; then
  libc=$(arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -print-file-name=libc.a)
  [ -f "$libc" ] || need_pkgs+=(libnewlib-arm-none-eabi)
else
  need_pkgs+=(libnewlib-arm-none-eabi)
fi
command -v qemu-system-arm >/dev/null || need_pkgs+=(qemu-system-arm)
# the gdb-remote flasher loads images through any GDB server; CI's bench stand-in is QEMU's GDB stub
command -v gdb-multiarch >/dev/null || need_pkgs+=(gdb-multiarch)
# `make lint` checks the firmware's C formatting (firmware/.clang-format) with Debian's clang-format
command -v clang-format >/dev/null || need_pkgs+=(clang-format)
# ser2net exports a serial port as rfc2217://, as a labgrid bench does; the link tests use it
command -v ser2net >/dev/null || need_pkgs+=(ser2net)
# headless Chromium opens report.html as a person would (tests/report); Debian's package, never a downloaded browser
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need_pkgs+=(chromium)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need_pkgs[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi
  if [ "$SUDO" = none ] || ! command -v apt-get >/dev/null; then
    echo "bootstrap: cannot install ${need_pkgs[*]}: this needs apt-get and root (or passwordless sudo)." >&2
    echo "  Install them with your package manager (Debian/Ubuntu: sudo apt-get install ${need_pkgs[*]})" >&2
    echo "  and run the command again." >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV"
  "$PYTHON" -m venv "$VENV" || {
    echo "bootstrap: '$PYTHON -m venv' failed; on Debian/Ubuntu install python3-venv and run again" >&2
    exit 1
  }
fi
stamp="$VENV/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing the harness and its dependencies into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q -e '.[dev,validate]'
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi

# labgrid (--hil-lg-place, make test-labgrid) in a venv of its own: its pyserial-labgrid would replace the
# harness's `serial` module and its pytest plugin would load into every run. The harness runs its labgrid-client.
LG_VENV=${LG_VENV:-.hil-cache/labgrid-venv}
if [ "${HIL_NO_LABGRID:-0}" != 1 ]; then
  lg_stamp="$LG_VENV/.installed-$(sha256sum tools/labgrid-requirements.txt | cut -c1-16)"
  if [ ! -f "$lg_stamp" ]; then
    echo "bootstrap: installing labgrid into $LG_VENV (HIL_NO_LABGRID=1 skips it)"
    [ -x "$LG_VENV/bin/python" ] || "$PYTHON" -m venv "$LG_VENV"
    "$LG_VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$LG_VENV/bin/python" -m pip install -q -r tools/labgrid-requirements.txt
    rm -f "$LG_VENV"/.installed-*
    touch "$lg_stamp"
  fi
fi
