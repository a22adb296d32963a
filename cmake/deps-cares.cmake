# c-ares: name resolution for the I/O layer (Debian: libc-ares-dev).
find_package(PkgConfig REQUIRED)
pkg_check_modules(CARES REQUIRED IMPORTED_TARGET libcares)
list(APPEND GROVE_PRIVATE_LIBS ${CARES_LINK_LIBRARIES})
list(APPEND GROVE_PC_REQUIRES libcares)
include_directories(${CARES_INCLUDE_DIRS})
