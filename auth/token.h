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

/* Appends a compact HS256 JWT to out. The secret must be >= 32 bytes.
 * KG_ERR_BAD_REQUEST for a short secret, an empty sub, ttl_s < 1, an empty
 * grants_claim, or a pattern that authz_pattern_expand refuses (a token whose
 * grants the verifier would drop is not minted). */
KG_WARN_UNUSED enum kg_err token_mint_hs256(const unsigned char *secret, size_t secret_len,
                                            const struct token_request *req, struct kg_buf *out);

#define TOKEN_SECRET_MIN_LEN 32
#define TOKEN_SECRET_MAX_LEN 4096

/* Reads the HS256 secret from the environment: KVSGATE_JWT_HS256_SECRET, or
 * the file named by KVSGATE_JWT_HS256_SECRET_FILE (one trailing "\n" or
 * "\r\n" dropped; setting both is an error). secret should be a secret buffer
 * (kg_buf_init_secret) of at least TOKEN_SECRET_MAX_LEN. On failure returns
 * KG_ERR_BAD_REQUEST and a one-line reason naming the variable in why. */
KG_WARN_UNUSED enum kg_err token_secret_from_env(struct kg_buf *secret, char *why, size_t why_len);

#endif
