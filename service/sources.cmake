# service/: daemon, HTTP server, settings, logs, metrics, command line.
target_sources(kvsgate_lib PRIVATE
  service/cli.c
  service/cmd_presign.c
  service/cmd_token.c)
