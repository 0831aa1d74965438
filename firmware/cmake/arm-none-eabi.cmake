# Cross toolchain for the Cortex-M boards (a board folder selects it with its toolchain.cmake): bare metal,
# newlib. CPU flags belong to the board (board.cmake), not here, so one toolchain file serves an M4F and an M3 alike.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(HIL_TOOLCHAIN_PREFIX arm-none-eabi- CACHE STRING "prefix of the cross tools")
find_program(CMAKE_C_COMPILER ${HIL_TOOLCHAIN_PREFIX}gcc REQUIRED)
find_program(CMAKE_ASM_COMPILER ${HIL_TOOLCHAIN_PREFIX}gcc REQUIRED)
find_program(CMAKE_OBJCOPY ${HIL_TOOLCHAIN_PREFIX}objcopy REQUIRED)
find_program(CMAKE_SIZE ${HIL_TOOLCHAIN_PREFIX}size REQUIRED)

# A test program cannot link without the board's linker script and startup code.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
