include(${CMAKE_CURRENT_LIST_DIR}/../../cmake/arm-none-eabi.cmake)
