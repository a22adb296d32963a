# OpenSSL: TLS for the I/O layer (Debian: libssl-dev).
find_package(PkgConfig REQUIRED)
pkg_check_modules(OPENSSL REQUIRED openssl)
list(APPEND GROVE_PRIVATE_LIBS ${OPENSSL_LINK_LIBRARIES})
list(APPEND GROVE_PC_REQUIRES openssl)
include_directories(${OPENSSL_INCLUDE_DIRS})
