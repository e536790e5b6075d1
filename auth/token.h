/* kvsgate: development tokens (`kvsgate token`), HS256 with libjwt. */
#ifndef KG_AUTH_TOKEN_H
#define KG_AUTH_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct token_request {
    const char *sub;                /* required */
    const char *const *master;      /* patterns, may be NULL */
    size_t master_count;
    const char *const *viewer;
    size_t viewer_count;
    const char *const *manage;
    size_t manage_count;
    int any_client_id;
    int manage_any;
    const char *issuer;             /* NULL: no iss */
    const char *audience;           /* NULL: no aud */
    const char *grants_claim;       /* NULL: "kvs" */
    int64_t now_s;
    int64_t ttl_s;                  /* exp = now + ttl */
};

/* Appends a compact HS256 JWT to out. The secret must be at least
 * JWTV_HS256_SECRET_MIN_LEN bytes (the service reads it with
 * config_hs256_secret, service/config.h).
 * KG_ERR_BAD_REQUEST for a short secret, an empty sub, ttl_s < 1, an empty
 * grants_claim, or a pattern that authz_pattern_expand refuses (a token whose
 * grants the verifier would drop is not minted). */
KG_WARN_UNUSED enum kg_err token_mint_hs256(const unsigned char *secret, size_t secret_len,
                                            const struct token_request *req, struct kg_buf *out);

#endif
