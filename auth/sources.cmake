# auth/: JWT verification, keys (secret, PEM, JWKS), authorization policy,
# viewer client ids, development tokens. libjwt is included in jws.c (HS256
# verification) and token.c (minting) only.
target_sources(kvsgate_lib PRIVATE
  auth/authz.c
  auth/claims.c
  auth/strictjson.c
  auth/jwk.c
  auth/jwks.c
  auth/jws.c
  auth/jwt.c
  auth/keys.c
  auth/principal.c
  auth/token.c
  auth/token_cache.c)
