# aws/: SigV4, credentials, transport, the KVS client and its caches.
target_sources(kvsgate_lib PRIVATE
  aws/cache.c
  aws/channels.c
  aws/presign.c
  aws/sigv4.c)
