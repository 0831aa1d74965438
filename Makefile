# The README's commands. Each bootstraps what it needs (tools/bootstrap.sh) on a fresh machine.
PY := .venv/bin/python
BOARD ?= qemu-stm32f4
TEST_BOARDS ?= host qemu-stm32f4 qemu-cm3
PYTEST_ARGS ?=
# Firmware C sources for the format check: what git tracks or would track (generated sources live in ignored build
# folders and .hil-cache/); every .c/.h below firmware/ outside a git checkout.
FIRMWARE_C = $(shell git ls-files --cached --others --exclude-standard 'firmware/*.c' 'firmware/*.h' 2>/dev/null \
	|| find firmware -name '*.[ch]')

.PHONY: setup run test lint bench clean

setup:
	@tools/bootstrap.sh

# The main job: the HIL suite on the default emulated board; results under reports/<run_id>/.
run: setup
	$(PY) -m harness run --board $(BOARD) $(if $(SIZE),--size $(SIZE))

# Unit, kernel and HIL tests; the HIL suite runs on every board in TEST_BOARDS.
test: setup
	$(PY) -m pytest tests $(foreach b,$(TEST_BOARDS),--hil-board $(b)) $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check harness tests conftest.py
	$(PY) -m ruff format --check harness tests conftest.py
	clang-format --dry-run --Werror $(FIRMWARE_C)

bench: setup
	$(PY) -m harness bench lstm

clean:
	rm -rf .hil-cache
