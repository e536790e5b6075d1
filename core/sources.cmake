# core/: the base layer every other layer may use (errors, buffers, encodings,
# time, logging, the OpenSSL helper). It depends on nothing of ours.
target_sources(kvsgate_lib PRIVATE
  core/buf.c
  core/crypto.c
  core/encode.c
  core/err.c
  core/file.c
  core/hash.c
  core/http.c
  core/kvsname.c
  core/log.c
  core/mem.c
  core/metrics.c
  core/num.c
  core/redis.c
  core/timeutil.c
  core/url.c)
