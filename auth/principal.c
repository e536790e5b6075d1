#include "auth/principal.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void auth_principal_cleanup(struct auth_principal *p)
{
    if (!p)
        return;
    free(p->sub);
    free(p->issuer);
    for (int perm = 0; perm < AUTHZ_PERM_COUNT; perm++) {
        for (size_t i = 0; i < p->grants.counts[perm]; i++)
            free(p->grants.patterns[perm][i]);
        free(p->grants.patterns[perm]);
    }
    memset(p, 0, sizeof *p);
}

void auth_principal_copy(struct auth_principal *dst, const struct auth_principal *src)
{
    memset(dst, 0, sizeof *dst);
    dst->sub = src->sub ? kg_strdup(src->sub) : NULL;
    dst->issuer = src->issuer ? kg_strdup(src->issuer) : NULL;
    memcpy(dst->client_id, src->client_id, sizeof dst->client_id);
    memcpy(dst->owner_id, src->owner_id, sizeof dst->owner_id);
    for (int perm = 0; perm < AUTHZ_PERM_COUNT; perm++) {
        size_t n = src->grants.counts[perm];
        dst->grants.counts[perm] = n;
        dst->grants.patterns[perm] = n ? kg_calloc(n, sizeof(char *)) : NULL;
        for (size_t i = 0; i < n; i++)
            dst->grants.patterns[perm][i] = kg_strdup(src->grants.patterns[perm][i]);
    }
    dst->grants.any_client_id = src->grants.any_client_id;
    dst->grants.manage_any = src->grants.manage_any;
    dst->expires_at_s = src->expires_at_s;
    dst->key_id = src->key_id;
    dst->alg = src->alg;
}
