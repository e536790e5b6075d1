# api/: the route table and the handlers, one file per OpenAPI tag.
target_sources(kvsgate_lib PRIVATE
  api/channels.c
  api/common.c
  api/connection.c
  api/dispatch.c
  api/operations.c
  api/routes.c
  api/storage.c)
