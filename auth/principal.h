/* kvsgate: who the caller is and what the token grants, after verification. */
#ifndef KG_AUTH_PRINCIPAL_H
#define KG_AUTH_PRINCIPAL_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_CLIENT_ID_MAX 256
/* The longest `sub` accepted (auth_sub_acceptable). */
#define AUTH_SUB_MAX_LEN 1024
/* The kvsgate:owner tag value (auth_owner_id): at most a KVS tag value. */
#define AUTH_OWNER_ID_MAX 256

enum authz_perm { AUTHZ_PERM_MASTER = 0, AUTHZ_PERM_VIEWER = 1, AUTHZ_PERM_MANAGE = 2 };
#define AUTHZ_PERM_COUNT 3

/* Channel-name patterns per permission: an exact name, or a prefix ending in
 * '*'. `{sub}` is already replaced by the caller's client id. */
struct authz_grants {
    char **patterns[AUTHZ_PERM_COUNT]; /* owned */
    size_t counts[AUTHZ_PERM_COUNT];
    int any_client_id;
    int manage_any; /* may delete or re-create channels another subject owns */
};

struct auth_principal {
    char *sub;                               /* owned; the token's subject */
    char *issuer;                            /* owned; the name of the issuer that signed it */
    char client_id[AUTH_CLIENT_ID_MAX + 1];  /* derived from sub (auth_derive_client_id), or
                                                for a secondary issuer auth_qualified_id */
    char owner_id[AUTH_OWNER_ID_MAX + 1];    /* the kvsgate:owner value of the subject */
    struct authz_grants grants;
    int64_t expires_at_s;                    /* the token's exp */
    const char *key_id;                      /* kid of the key that verified it, or "" (static
                                                or owned by the verifier; for logs) */
    const char *alg;                         /* "HS256", "RS256", ... (static) */
    void *block;                             /* a copy's one allocation, holding its sub,
                                                issuer and grant lists (read-only), or NULL */
};

void auth_principal_cleanup(struct auth_principal *p);
/* Deep copy (the verified-token cache hands out copies, one per request): the
 * strings and lists of dst are laid out in one allocation (dst->block), so a
 * copy costs one malloc and one free whatever the grants. A copy is read-only:
 * nothing may grow its lists. auth_principal_cleanup frees either kind. */
void auth_principal_copy(struct auth_principal *dst, const struct auth_principal *src);

#endif
