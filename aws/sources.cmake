# aws/: SigV4, credentials, transport, the KVS client and its caches.
target_sources(kvsgate_lib PRIVATE
  aws/budget.c
  aws/cache.c
  aws/refresh.c
  aws/shared.c
  aws/channels.c
  aws/channels_values.c
  aws/endpoints.c
  aws/credentials.c
  aws/credentials_container.c
  aws/credentials_env.c
  aws/credentials_imds.c
  aws/credentials_sts.c
  aws/credentials_web_identity.c
  aws/kvs.c
  aws/kvs_errors.c
  aws/kvs_json.c
  aws/kvs_storage.c
  aws/presign.c
  aws/signed_request.c
  aws/sigv4.c
  aws/transport.c
  aws/xml.c)
