/* Authorization: channel patterns and the viewer client-id rule.
 *
 * The client-id rule is what keeps one viewer out of another's seat: KVS lets
 * a client id connect once per channel, and whoever holds an id receives its
 * messages. Derived ids never contain '.', so "<derived>.<suffix>" is always
 * the owner's namespace; ids that start with '_' are always hashes, so no
 * `sub` can be chosen to equal someone else's hashed id (a sub that starts with
 * '_' is itself hashed). */
#include "auth/authz.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/encode.h"
#include "core/kvsname.h"
#include "core/mem.h"

#define SUB_OWN_ID_MAX 128
#define HASHED_ID_HEX 40
#define SUFFIX_MAX 64
#define CHANNEL_NAME_MAX 256
#define PATTERN_RAW_MAX 512

/* '_' + the first 40 hex digits of SHA-256(s[0..n)). */
static void hashed_id(const char *s, size_t n, char out[1 + HASHED_ID_HEX + 1])
{
    char hex[2 * KG_SHA256_LEN + 1];
    kg_sha256_hex(s, n, hex);
    out[0] = '_';
    memcpy(out + 1, hex, HASHED_ID_HEX);
    out[1 + HASHED_ID_HEX] = '\0';
}

void auth_derive_client_id(const char *sub, char out[AUTH_CLIENT_ID_MAX + 1])
{
    if (!sub)
        sub = "";
    size_t n = strlen(sub);
    int own = n >= 1 && n <= SUB_OWN_ID_MAX && sub[0] != '_' && !kg_kvs_aws_prefixed(sub);
    for (size_t i = 0; own && i < n; i++)
        own = kg_kvs_name_char((unsigned char)sub[i]) && sub[i] != '.';
    if (own)
        memcpy(out, sub, n + 1);
    else
        hashed_id(sub, n, out);
}

void auth_owner_id(const char *sub, char out[AUTH_OWNER_ID_MAX + 1])
{
    if (!sub)
        sub = "";
    size_t n = strlen(sub);
    int raw = n >= 1 && n <= AUTH_OWNER_ID_MAX && sub[0] != '_';
    for (size_t i = 0; raw && i < n; i++)
        raw = kg_kvs_tag_ascii_char((unsigned char)sub[i]);
    if (raw)
        memcpy(out, sub, n + 1);
    else
        hashed_id(sub, n, out);
}

void auth_qualified_id(const char *iss, const char *sub, char out[AUTH_CLIENT_ID_MAX + 1])
{
    struct kg_buf b;
    kg_buf_init(&b, 2 * AUTH_SUB_MAX_LEN + 4096);
    if (kg_buf_append_str(&b, iss ? iss : "") != KG_OK || kg_buf_append_char(&b, '\n') != KG_OK ||
        kg_buf_append_str(&b, sub ? sub : "") != KG_OK)
        abort(); /* iss and sub are bounded far below */
    hashed_id(b.data, b.len, out);
    kg_buf_free(&b);
}

int auth_sub_acceptable(const char *sub, size_t len)
{
    if (len == 0 || len > AUTH_SUB_MAX_LEN)
        return 0;
    const unsigned char *u = (const unsigned char *)sub;
    for (size_t i = 0; i < len; i++) {
        if (u[i] < 0x20 || u[i] == 0x7f)
            return 0;
        /* C1 controls: U+0080..U+009F, UTF-8 C2 80..C2 9F. */
        if (u[i] == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)
            return 0;
    }
    return 1;
}

int authz_allows(const struct auth_principal *p, enum authz_perm perm, const char *channel)
{
    if (!p || !channel || !*channel || (int)perm < 0 || (int)perm >= AUTHZ_PERM_COUNT)
        return 0;
    for (size_t i = 0; i < p->grants.counts[perm]; i++) {
        const char *pat = p->grants.patterns[perm][i];
        size_t n = strlen(pat);
        if (n && pat[n - 1] == '*') {
            if (strncmp(channel, pat, n - 1) == 0)
                return 1;
        } else if (strcmp(channel, pat) == 0) {
            return 1;
        }
    }
    return 0;
}

int authz_can_describe(const struct auth_principal *p, const char *channel)
{
    return authz_allows(p, AUTHZ_PERM_MANAGE, channel) ||
           authz_allows(p, AUTHZ_PERM_MASTER, channel) ||
           authz_allows(p, AUTHZ_PERM_VIEWER, channel);
}

enum kg_err authz_viewer_client_id(const struct auth_principal *p, const char *requested,
                                   char out[AUTH_CLIENT_ID_MAX + 1])
{
    out[0] = '\0';
    if (!p || !p->client_id[0])
        return KG_ERR_FORBIDDEN;
    if (!requested) {
        memcpy(out, p->client_id, strlen(p->client_id) + 1);
        return KG_OK;
    }
    if (!kg_kvs_client_id_valid(requested))
        return KG_ERR_INVALID_CLIENT_ID;
    size_t d = strlen(p->client_id), n = strlen(requested);
    int mine = strcmp(requested, p->client_id) == 0;
    if (!mine && n > d + 1 && n - d - 1 <= SUFFIX_MAX && memcmp(requested, p->client_id, d) == 0 &&
        requested[d] == '.')
        mine = 1; /* the suffix's characters were checked with the whole id */
    if (!mine && !p->grants.any_client_id)
        return KG_ERR_FORBIDDEN;
    memcpy(out, requested, n + 1);
    return KG_OK;
}

/* Appends the id that replaces a placeholder: made of name characters, never
 * a '.' (derived ids never hold one: what closes it in a pattern). */
static enum kg_err append_id(struct kg_buf *b, const char *id)
{
    if (!id || !*id)
        return KG_ERR_BAD_REQUEST;
    for (const char *c = id; *c; c++)
        if (!kg_kvs_name_char((unsigned char)*c) || *c == '.')
            return KG_ERR_BAD_REQUEST; /* not a derived id: it could not be closed */
    return kg_buf_append_str(b, id);
}

enum kg_err authz_pattern_expand_with(const char *pattern, const char *client_id,
                                      const char *value_id, char **out)
{
    *out = NULL;
    if (!pattern || !*pattern || strlen(pattern) > PATTERN_RAW_MAX)
        return KG_ERR_BAD_REQUEST;
    size_t plen = strlen(pattern);
    int star = pattern[plen - 1] == '*';
    char storage[CHANNEL_NAME_MAX + 2];
    struct kg_buf b;
    kg_buf_init_fixed(&b, storage, sizeof storage);
    for (const char *p = pattern; *p;) {
        size_t ph = strncmp(p, "{sub}", 5) == 0 ? 5 : strncmp(p, "{value}", 7) == 0 ? 7 : 0;
        if (ph) {
            /* The boundary (authz.h): with a '*', the id must be closed by '.'. */
            if (star && p[ph] != '.')
                return KG_ERR_BAD_REQUEST;
            if (append_id(&b, ph == 5 ? client_id : value_id) != KG_OK)
                return KG_ERR_BAD_REQUEST;
            p += ph;
        } else if (*p == '*') {
            if (p[1] != '\0')
                return KG_ERR_BAD_REQUEST; /* '*' only at the end */
            p++;
        } else if (kg_kvs_name_char((unsigned char)*p)) {
            if (kg_buf_append_char(&b, *p) != KG_OK)
                return KG_ERR_BAD_REQUEST;
            p++;
        } else {
            return KG_ERR_BAD_REQUEST;
        }
    }
    /* A name is 1..256 bytes; a prefix may be empty ("*": every channel) and
     * at most 255 so that some name can match it. */
    if (star ? b.len > CHANNEL_NAME_MAX - 1 : (b.len == 0 || b.len > CHANNEL_NAME_MAX))
        return KG_ERR_BAD_REQUEST;
    if (star && kg_buf_append_char(&b, '*') != KG_OK)
        return KG_ERR_BAD_REQUEST;
    *out = kg_strndup(b.data, b.len);
    return KG_OK;
}

enum kg_err authz_pattern_expand(const char *pattern, const char *client_id, char **out)
{
    return authz_pattern_expand_with(pattern, client_id, NULL, out);
}
