#include "auth/principal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void auth_principal_cleanup(struct auth_principal *p)
{
    if (!p)
        return;
    if (p->block) {
        free(p->block);
        memset(p, 0, sizeof *p);
        return;
    }
    free(p->sub);
    free(p->issuer);
    for (int perm = 0; perm < AUTHZ_PERM_COUNT; perm++) {
        for (size_t i = 0; i < p->grants.counts[perm]; i++)
            free(p->grants.patterns[perm][i]);
        free(p->grants.patterns[perm]);
    }
    memset(p, 0, sizeof *p);
}

static size_t size_add(size_t a, size_t b)
{
    size_t r;
    if (__builtin_add_overflow(a, b, &r))
        abort(); /* unreachable: every part is bounded by the verifier */
    return r;
}

static size_t str_size(const char *s) { return s ? size_add(strlen(s), 1) : 0; }

/* Copies s (when not NULL) to *w and moves *w past it. */
static char *str_place(char **w, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = memcpy(*w, s, n);
    *w += n;
    return d;
}

void auth_principal_copy(struct auth_principal *dst, const struct auth_principal *src)
{
    memset(dst, 0, sizeof *dst);
    /* The lists first (pointer-aligned), then every string. */
    size_t lists = 0, strings = size_add(str_size(src->sub), str_size(src->issuer));
    for (int perm = 0; perm < AUTHZ_PERM_COUNT; perm++) {
        size_t n = src->grants.counts[perm];
        if (n > SIZE_MAX / sizeof(char *))
            abort();
        lists = size_add(lists, n * sizeof(char *));
        for (size_t i = 0; i < n; i++)
            strings = size_add(strings, str_size(src->grants.patterns[perm][i]));
    }
    char *block = kg_malloc(size_add(lists, strings));
    char **list = (char **)(void *)block;
    char *w = block + lists;
    dst->block = block;
    dst->sub = str_place(&w, src->sub);
    dst->issuer = str_place(&w, src->issuer);
    for (int perm = 0; perm < AUTHZ_PERM_COUNT; perm++) {
        size_t n = src->grants.counts[perm];
        dst->grants.counts[perm] = n;
        dst->grants.patterns[perm] = n ? list : NULL;
        for (size_t i = 0; i < n; i++)
            *list++ = str_place(&w, src->grants.patterns[perm][i]);
    }
    /* dst is zeroed: the terminators are there. */
    memcpy(dst->client_id, src->client_id, strnlen(src->client_id, sizeof dst->client_id - 1));
    memcpy(dst->owner_id, src->owner_id, strnlen(src->owner_id, sizeof dst->owner_id - 1));
    dst->grants.any_client_id = src->grants.any_client_id;
    dst->grants.manage_any = src->grants.manage_any;
    dst->expires_at_s = src->expires_at_s;
    dst->key_id = src->key_id;
    dst->alg = src->alg;
}
