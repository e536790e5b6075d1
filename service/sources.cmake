# service/: daemon, HTTP server, settings, logs, metrics, command line.
target_sources(kvsgate_lib PRIVATE
  service/authcfg.c
  service/cli.c
  service/cmd_auth.c
  service/clientaddr.c
  service/cmd_presign.c
  service/cmd_token.c
  service/config.c
  service/daemon.c
  service/httpd.c
  service/httpd_conn.c
  service/httpd_head.c
  service/policy.c
  service/ratelimit.c
  service/ratesync.c
  service/server.c
  service/workers.c)

# openapi.yaml, built into the binary and served at /openapi.yaml.
add_custom_command(
  OUTPUT ${CMAKE_BINARY_DIR}/generated/openapi_yaml.c
  COMMAND ${CMAKE_COMMAND} -DIN=${CMAKE_SOURCE_DIR}/openapi.yaml
          -DOUT=${CMAKE_BINARY_DIR}/generated/openapi_yaml.c -DNAME=kvsgate_openapi_yaml
          -P ${CMAKE_SOURCE_DIR}/cmake/embed.cmake
  DEPENDS ${CMAKE_SOURCE_DIR}/openapi.yaml ${CMAKE_SOURCE_DIR}/cmake/embed.cmake
  COMMENT "Embedding openapi.yaml")
target_sources(kvsgate_lib PRIVATE ${CMAKE_BINARY_DIR}/generated/openapi_yaml.c)
