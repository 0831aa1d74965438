# The firmware as a Linux process: TCP (or pty) instead of a UART, clock_gettime instead of a cycle counter.
target_sources(hil_fw PRIVATE ${CMAKE_CURRENT_LIST_DIR}/hil_port.c)
