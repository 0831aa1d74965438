# The README's commands. Each bootstraps what it needs (tools/bootstrap.sh) on a fresh machine.
PY := .venv/bin/python
BOARD ?= qemu-stm32f4
TEST_BOARDS ?= host qemu-stm32f4 qemu-cm3
PYTEST_ARGS ?=
# pytest-xdist workers for `make test`: each takes whole test files and starts its own boards (JOBS=1: one process)
JOBS ?= 2
# The real-board path in CI: QEMU netduinoplus2 halted behind its GDB stub stands in for a board behind a probe
# (tools/bench_standin.py writes its lab.toml row); the bench tests and these HIL tests run on that row (about 30 s;
# `make test-bench BENCH_K=` runs the whole HIL suite there, about 4 minutes).
BENCH_LAB ?= .hil-cache/bench/lab.toml
BENCH_BOARD ?= bench-stm32f4
BENCH_K ?= handshake or lstm_inference or protocol_errors or pytest_embedded or failure_taxonomy or bench_row
# labgrid places in CI: a real labgrid-coordinator and labgrid-exporter on 127.0.0.1 export two boards' ptys
# (tools/labgrid_standin.py). These HIL tests run over rfc2217 on the host board's place (--hil-lg-place) and on the
# lab.toml row of QEMU's place (built, flashed through its GDB stub), then tests/labgrid (a held place refused to a
# second client, SIGTERM, kill -9) on the same stand-in. About 70 s.
LG_DIR ?= .hil-cache/labgrid
LG_PLACE ?= hil-host
LG_ROW ?= lg-stm32f4
LG_K ?= handshake or lstm_inference or protocol_errors
LG_ROW_K ?= handshake or lstm_inference
# Firmware C sources for the format check: what git tracks or would track (generated sources live in ignored build
# folders and .hil-cache/); every .c/.h below firmware/ outside a git checkout.
FIRMWARE_C = $(shell git ls-files --cached --others --exclude-standard 'firmware/*.c' 'firmware/*.h' 2>/dev/null \
	|| find firmware -name '*.[ch]')

.PHONY: setup run test test-bench test-labgrid lint bench clean

setup:
	@tools/bootstrap.sh

# The main job: the HIL suite on the default emulated board; results under reports/<run_id>/.
run: setup
	$(PY) -m harness run --board $(BOARD) $(if $(SIZE),--size $(SIZE))

# Unit, kernel and HIL tests in JOBS workers; the HIL suite runs on every board in TEST_BOARDS, then on the bench
# stand-in (tests/labgrid runs in test-labgrid).
test: setup
	$(PY) -m pytest tests --ignore=tests/labgrid $(foreach b,$(TEST_BOARDS),--hil-board $(b)) \
		$(if $(filter-out 1,$(JOBS)),-n $(JOBS) --dist loadfile) $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-bench

# The bench path end to end: lab.toml row -> gdb-remote flasher -> reset -> serial -> HELLO (build id) -> tests.
# The stand-in is stopped however pytest ends.
test-bench: setup
	trap '$(PY) tools/bench_standin.py stop --lab $(BENCH_LAB)' EXIT; \
	$(PY) tools/bench_standin.py start --lab $(BENCH_LAB) --name $(BENCH_BOARD) && \
	$(PY) -m pytest tests/hil tests/bench/test_bench_row.py --hil-lab $(BENCH_LAB) --hil-board $(BENCH_BOARD) \
		$(if $(BENCH_K),-k "$(BENCH_K)") $(PYTEST_ARGS)

# The stand-in stops however pytest ends (the trap; its supervisor also ends with this shell, --watch).
test-labgrid: setup
	trap '$(PY) tools/labgrid_standin.py stop --dir $(LG_DIR)' EXIT; \
	$(PY) tools/labgrid_standin.py start --dir $(LG_DIR) --place $(LG_PLACE) --watch $$$$ && \
	export LG_COORDINATOR=$$(cat $(LG_DIR)/coordinator.address) && \
	$(PY) -m pytest tests/hil --hil-lg-place $(LG_PLACE) --hil-board host $(if $(LG_K),-k "$(LG_K)") $(PYTEST_ARGS) && \
	$(PY) -m pytest tests/hil --hil-lab $(LG_DIR)/lab.toml --hil-board $(LG_ROW) $(if $(LG_ROW_K),-k "$(LG_ROW_K)") \
		$(PYTEST_ARGS) && \
	HIL_LG_STANDIN=$(LG_DIR) $(PY) -m pytest tests/labgrid $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check harness tests conftest.py tools
	$(PY) -m ruff format --check harness tests conftest.py tools
	clang-format --dry-run --Werror $(FIRMWARE_C)

bench: setup
	$(PY) -m harness bench lstm

clean:
	rm -rf .hil-cache
