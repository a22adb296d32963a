# grove-http: the HTTP/1.1 server and client (src/http/, include/grove/http.h), a library
# of its own on top of libgrove's public API. Its parser is llhttp 8.1.0, compiled here
# in strict mode from the C sources Debian ships in node-llhttp.
find_path(GROVE_LLHTTP_SRC llhttp.c PATHS /usr/share/llhttp NO_DEFAULT_PATH)
find_path(GROVE_LLHTTP_INCLUDE llhttp.h PATHS /usr/share/include/llhttp NO_DEFAULT_PATH)
if(NOT GROVE_LLHTTP_SRC OR NOT GROVE_LLHTTP_INCLUDE)
  message(FATAL_ERROR "grove-http: llhttp sources not found (apt-get install node-llhttp, or configure with -DGROVE_WITH_HTTP=OFF)")
endif()
set(GROVE_HAVE_HTTP ON)

add_library(grove_llhttp OBJECT ${GROVE_LLHTTP_SRC}/llhttp.c ${GROVE_LLHTTP_SRC}/api.c ${GROVE_LLHTTP_SRC}/http.c)
target_include_directories(grove_llhttp PUBLIC ${GROVE_LLHTTP_INCLUDE})
target_compile_definitions(grove_llhttp PUBLIC LLHTTP_STRICT_MODE=1)
# Generated code, not ours: no -Werror; hidden so libgrove-http never exports llhttp_*.
target_compile_options(grove_llhttp PRIVATE -w -fvisibility=hidden)

set(GROVE_HTTP_SOURCES ${PROJECT_SOURCE_DIR}/src/http/client.c ${PROJECT_SOURCE_DIR}/src/http/conn.c ${PROJECT_SOURCE_DIR}/src/http/parse.c ${PROJECT_SOURCE_DIR}/src/http/router.c ${PROJECT_SOURCE_DIR}/src/http/server.c)
add_library(grove_http_objs OBJECT ${GROVE_HTTP_SOURCES})
target_include_directories(grove_http_objs
  PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  PRIVATE ${PROJECT_SOURCE_DIR}/src ${GROVE_LLHTTP_INCLUDE})
target_compile_definitions(grove_http_objs PRIVATE LLHTTP_STRICT_MODE=1)
target_compile_options(grove_http_objs PRIVATE -fvisibility=hidden -fno-omit-frame-pointer)

add_library(grove_http_static STATIC $<TARGET_OBJECTS:grove_http_objs> $<TARGET_OBJECTS:grove_llhttp>)
set_target_properties(grove_http_static PROPERTIES OUTPUT_NAME grove-http EXPORT_NAME grove_http)
target_link_libraries(grove_http_static PUBLIC grove_static)
add_library(grove_http_shared SHARED $<TARGET_OBJECTS:grove_http_objs> $<TARGET_OBJECTS:grove_llhttp>)
set_target_properties(grove_http_shared PROPERTIES OUTPUT_NAME grove-http EXPORT_NAME grove_http_shared
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
target_link_libraries(grove_http_shared PUBLIC grove_shared)
foreach(lib grove_http_static grove_http_shared)
  target_include_directories(${lib} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
endforeach()
add_library(grove::grove_http ALIAS grove_http_static)
add_library(grove::grove_http_shared ALIAS grove_http_shared)
# The short name tests and examples link.
add_library(grove_http ALIAS grove_http_static)

install(TARGETS grove_http_static grove_http_shared EXPORT groveTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
configure_file(${PROJECT_SOURCE_DIR}/cmake/grove-http.pc.in ${PROJECT_BINARY_DIR}/grove-http.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/grove-http.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
