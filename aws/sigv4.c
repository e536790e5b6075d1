/* SigV4 from the specification
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html):
 *
 *   CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n
 *                      CanonicalHeaders \n SignedHeaders \n PayloadHash
 *   StringToSign     = "AWS4-HMAC-SHA256" \n AmzDate \n Scope \n hex(SHA256(CanonicalRequest))
 *   Key              = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")
 *   Signature        = hex(HMAC(Key, StringToSign))
 *
 * Header and query modes share everything but where the auth data goes, so both
 * run through sigv4_sign() below. The derived key is the only costly part worth
 * caching (4 HMACs); it changes once a day per region, so a per-thread LRU of
 * four entries holds it without locks.
 */
#include "aws/sigv4.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "core/encode.h"
#include "core/mem.h"
#include "core/timeutil.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- signing-key cache ------------------------------------------------------ */

#define KEY_CACHE_SLOTS 4
#define KEY_CACHE_MAX_SECRET 128
#define KEY_CACHE_MAX_NAME 64

struct key_slot {
    int used;
    uint64_t last_use;
    size_t secret_len;
    char secret[KEY_CACHE_MAX_SECRET];
    char date8[9];
    char region[KEY_CACHE_MAX_NAME];
    char service[KEY_CACHE_MAX_NAME];
    unsigned char key[32];
};

/* Per thread: the signing keys, and the arena of the signature being made
 * (kept between signatures, wiped after each: one allocation per thread
 * instead of one per signature; an arena grown past ARENA_KEEP is let go). */
#define ARENA_KEEP (16 * 1024)

struct key_cache {
    uint64_t tick;
    struct key_slot slots[KEY_CACHE_SLOTS];
    struct kg_buf arena;
    struct sigv4_result scratch; /* sigv4_presign_query's, when scratch_ready */
    int scratch_ready;
};

static pthread_once_t key_cache_once = PTHREAD_ONCE_INIT;
static pthread_key_t key_cache_key;
static _Thread_local struct key_cache *key_cache_tls;

static void key_cache_destroy(void *p)
{
    struct key_cache *c = p;
    kg_buf_free(&c->arena);
    if (c->scratch_ready)
        sigv4_result_cleanup(&c->scratch);
    kg_wipe(c, sizeof *c);
    free(c);
}

/* Wipes a scratch buffer for the next signature (1), or lets it go when a
 * hostile input grew it past ARENA_KEEP (0). */
static int scratch_keep(struct kg_buf *b)
{
    if (b->cap > ARENA_KEEP) {
        kg_buf_free(b);
        return 0;
    }
    kg_buf_reset(b);
    return 1;
}

static void key_cache_init_once(void) { pthread_key_create(&key_cache_key, key_cache_destroy); }

static struct key_cache *key_cache_get(void)
{
    if (!key_cache_tls) {
        pthread_once(&key_cache_once, key_cache_init_once);
        key_cache_tls = kg_calloc(1, sizeof *key_cache_tls);
        kg_buf_init_secret(&key_cache_tls->arena, SIGV4_MAX_STRING * 2);
        pthread_setspecific(key_cache_key, key_cache_tls);
    }
    return key_cache_tls;
}

void sigv4_key_cache_clear(void)
{
    if (key_cache_tls) {
        kg_wipe(key_cache_tls->slots, sizeof key_cache_tls->slots);
        key_cache_tls->tick = 0;
    }
}

void sigv4_derive_key(const char *secret, const char *date8, const char *region,
                      const char *service, unsigned char out[32])
{
    size_t slen = strlen(secret);
    struct kg_buf k;
    kg_buf_init_secret(&k, 4 + slen);
    if (kg_buf_append(&k, "AWS4", 4) != KG_OK || kg_buf_append(&k, secret, slen) != KG_OK)
        abort(); /* cannot happen: the bound is exact */
    unsigned char a[32], b[32];
    kg_hmac_sha256(k.data, k.len, date8, strlen(date8), a);
    kg_hmac_sha256(a, 32, region, strlen(region), b);
    kg_hmac_sha256(b, 32, service, strlen(service), a);
    kg_hmac_sha256(a, 32, "aws4_request", 12, out);
    kg_wipe(a, sizeof a);
    kg_wipe(b, sizeof b);
    kg_buf_free(&k);
}

/* Fills key with the signing key, from the cache when it holds it. */
static void signing_key(const char *secret, const char *date8, const char *region,
                        const char *service, unsigned char key[32])
{
    size_t slen = strlen(secret);
    if (slen > KEY_CACHE_MAX_SECRET || strlen(region) >= KEY_CACHE_MAX_NAME ||
        strlen(service) >= KEY_CACHE_MAX_NAME) {
        sigv4_derive_key(secret, date8, region, service, key);
        return;
    }
    struct key_cache *c = key_cache_get();
    struct key_slot *victim = &c->slots[0];
    c->tick++;
    for (int i = 0; i < KEY_CACHE_SLOTS; i++) {
        struct key_slot *s = &c->slots[i];
        if (s->used && s->secret_len == slen && kg_ct_equal(s->secret, secret, slen) &&
            strcmp(s->date8, date8) == 0 && strcmp(s->region, region) == 0 &&
            strcmp(s->service, service) == 0) {
            s->last_use = c->tick;
            memcpy(key, s->key, 32);
            return;
        }
        if (!s->used || (victim->used && s->last_use < victim->last_use))
            victim = s;
    }
    kg_wipe(victim, sizeof *victim);
    sigv4_derive_key(secret, date8, region, service, victim->key);
    victim->used = 1;
    victim->last_use = c->tick;
    victim->secret_len = slen;
    memcpy(victim->secret, secret, slen);
    memcpy(victim->date8, date8, 9);
    memcpy(victim->region, region, strlen(region) + 1);    /* length checked above */
    memcpy(victim->service, service, strlen(service) + 1); /* length checked above */
    memcpy(key, victim->key, 32);
}

/* ---- canonical pieces ------------------------------------------------------- */

struct canon_header {
    char *name; /* lower-cased, owned */
    size_t name_len;
    const char *value;
    size_t value_len;
    size_t order; /* position in the request, to keep duplicates in order */
};

struct canon_param {
    size_t name_off, value_off; /* encoded, NUL-terminated, in sign_state.arena */
    size_t name_len, value_len; /* their lengths */
    const char *name, *value;   /* set from the offsets by params_resolve */
};

static int header_cmp(const void *a, const void *b)
{
    const struct canon_header *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int param_cmp(const void *a, const void *b)
{
    const struct canon_param *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

/* Sorts n elements of size bytes (at most 64): an insertion sort, as signing
 * sorts a handful of headers and parameters, mostly in order already (the
 * second sort adds one or two to a sorted list), where qsort's merge sort
 * allocates nothing but copies through a temporary array at every level. */
static void sort_small(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    unsigned char tmp[64];
    unsigned char *a = base;
    if (size > sizeof tmp) {
        qsort(base, n, size, cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        size_t j = i;
        if (cmp(a + (j - 1) * size, a + i * size) <= 0)
            continue;
        memcpy(tmp, a + i * size, size);
        while (j > 0 && cmp(a + (j - 1) * size, tmp) > 0) {
            memcpy(a + j * size, a + (j - 1) * size, size);
            j--;
        }
        memcpy(a + j * size, tmp, size);
    }
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Appends a header value trimmed, with internal whitespace runs (including
 * obsolete line folding) collapsed to one space: sized first, then written
 * in place. */
static enum kg_err append_header_value(struct kg_buf *b, const char *v, size_t n)
{
    size_t i = 0;
    while (i < n && is_space(v[i]))
        i++;
    while (n > i && is_space(v[n - 1]))
        n--;
    size_t out_len = 0;
    for (size_t k = i; k < n; k++)
        out_len += !is_space(v[k]) || !is_space(v[k - 1]); /* v[i] is not a space */
    enum kg_err err = kg_buf_reserve(b, out_len);
    if (err != KG_OK)
        return err;
    char *w = b->data + b->len;
    for (size_t k = i; k < n; k++) {
        if (!is_space(v[k]))
            *w++ = v[k];
        else if (!is_space(v[k - 1]))
            *w++ = ' ';
    }
    kg_buf_commit(b, out_len);
    return KG_OK;
}

/* RFC 3986 5.2.4 dot-segment removal plus collapsing of empty segments; a
 * trailing slash survives. Writes the normalized raw path to out. */
static enum kg_err normalize_path(struct kg_buf *out, const char *p, size_t n)
{
    /* segment start offsets in out, to pop on ".." */
    size_t stack[256];
    size_t depth = 0;
    enum kg_err err = kg_buf_append_char(out, '/');
    size_t i = 0;
    int trailing = n > 0 && p[n - 1] == '/';
    while (i < n && err == KG_OK) {
        while (i < n && p[i] == '/')
            i++;
        size_t s = i;
        while (i < n && p[i] != '/')
            i++;
        size_t len = i - s;
        if (len == 0 || (len == 1 && p[s] == '.'))
            continue;
        if (len == 2 && p[s] == '.' && p[s + 1] == '.') {
            if (depth > 0)
                kg_buf_truncate(out, stack[--depth]);
            continue;
        }
        if (depth == sizeof stack / sizeof stack[0])
            return KG_ERR_BAD_REQUEST;
        stack[depth++] = out->len;
        if (out->len > 1)
            err = kg_buf_append_char(out, '/');
        if (err == KG_OK)
            err = kg_buf_append(out, p + s, len);
    }
    if (err == KG_OK && trailing && out->len > 1)
        err = kg_buf_append_char(out, '/');
    return err;
}

static enum kg_err canonical_uri(struct kg_buf *cr, const struct sigv4_request *req,
                                 unsigned flags)
{
    if (req->path_len == 0)
        return kg_buf_append_char(cr, '/');
    if (!(flags & SIGV4_NORMALIZE_PATH))
        return kg_uri_encode(cr, req->path, req->path_len, 1);
    struct kg_buf norm;
    kg_buf_init(&norm, SIGV4_MAX_STRING);
    enum kg_err err = normalize_path(&norm, req->path, req->path_len);
    if (err == KG_OK)
        err = kg_uri_encode(cr, norm.data, norm.len, 1);
    kg_buf_free(&norm);
    return err;
}

static int valid_header_name(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!kg_http_token_char((unsigned char)s[i]))
            return 0;
    return 1;
}

/* ---- the signer -------------------------------------------------------------- */

/* Per-signature scratch, on the stack: only the counts need zeroing. The
 * encoded query names and values live in one arena buffer (a secret one: the
 * session token is among them) instead of two allocations each: the thread's
 * (key_cache.arena), borrowed for the signature. */
struct sign_state {
    struct canon_header headers[SIGV4_MAX_HEADERS + 3];
    size_t header_count;
    struct canon_param params[SIGV4_MAX_PARAMS + 8];
    size_t param_count;
    struct kg_buf arena;
};

static void state_init(struct sign_state *st)
{
    st->header_count = 0;
    st->param_count = 0;
    struct key_cache *c = key_cache_get();
    st->arena = c->arena; /* borrowed: state_free hands it back */
    kg_buf_init_secret(&c->arena, SIGV4_MAX_STRING * 2);
    if (!st->arena.cap)
        kg_buf_presize(&st->arena, 2048); /* a presign's parameters, a session token included */
}

static void state_free(struct sign_state *st)
{
    for (size_t i = 0; i < st->header_count; i++)
        free(st->headers[i].name);
    struct key_cache *c = key_cache_get();
    if (c->arena.cap) /* the thread holds one again */
        kg_buf_free(&st->arena);
    else if (scratch_keep(&st->arena))
        c->arena = st->arena;
}

/* Points the params at their text (the arena may have moved since). */
static void params_resolve(struct sign_state *st)
{
    for (size_t i = 0; i < st->param_count; i++) {
        st->params[i].name = st->arena.data + st->params[i].name_off;
        st->params[i].value = st->arena.data + st->params[i].value_off;
    }
}

static enum kg_err add_header(struct sign_state *st, const char *name, size_t name_len,
                              const char *value, size_t value_len)
{
    if (st->header_count >= sizeof st->headers / sizeof st->headers[0])
        return KG_ERR_BAD_REQUEST;
    if (!valid_header_name(name, name_len))
        return KG_ERR_BAD_REQUEST;
    struct canon_header *h = &st->headers[st->header_count];
    h->name = kg_strndup(name, name_len);
    for (size_t i = 0; i < name_len; i++)
        if (h->name[i] >= 'A' && h->name[i] <= 'Z')
            h->name[i] = (char)(h->name[i] - 'A' + 'a');
    h->name_len = name_len;
    h->value = value;
    h->value_len = value_len;
    h->order = st->header_count++;
    return KG_OK;
}

static enum kg_err add_param(struct sign_state *st, const char *name, size_t name_len,
                             const char *value, size_t value_len)
{
    if (st->param_count >= sizeof st->params / sizeof st->params[0])
        return KG_ERR_BAD_REQUEST;
    struct kg_buf *a = &st->arena;
    size_t start = a->len;
    size_t name_off = a->len;
    enum kg_err err = kg_uri_encode(a, name, name_len, 0);
    if (err == KG_OK && (size_t)(a->len - name_off) > SIGV4_MAX_STRING)
        err = KG_ERR_PAYLOAD_TOO_LARGE;
    if (err == KG_OK)
        err = kg_buf_append_char(a, '\0');
    size_t value_off = a->len;
    if (err == KG_OK)
        err = kg_uri_encode(a, value, value_len, 0);
    if (err == KG_OK && (size_t)(a->len - value_off) > SIGV4_MAX_STRING)
        err = KG_ERR_PAYLOAD_TOO_LARGE;
    if (err == KG_OK)
        err = kg_buf_append_char(a, '\0');
    if (err != KG_OK) {
        kg_buf_truncate(a, start);
        return err;
    }
    st->params[st->param_count].name_off = name_off;
    st->params[st->param_count].value_off = value_off;
    st->params[st->param_count].name_len = value_off - 1 - name_off;
    st->params[st->param_count].value_len = a->len - 1 - value_off;
    st->param_count++;
    return KG_OK;
}

static enum kg_err append_params(struct kg_buf *b, const struct canon_param *p, size_t count)
{
    size_t need = count ? count * 2 - 1 : 0; /* '=' per param, '&' between */
    for (size_t i = 0; i < count; i++)
        need += p[i].name_len + p[i].value_len;
    enum kg_err err = kg_buf_reserve(b, need);
    if (err != KG_OK)
        return err;
    char *w = b->data + b->len;
    for (size_t i = 0; i < count; i++) {
        if (i)
            *w++ = '&';
        size_t nl = p[i].name_len, vl = p[i].value_len;
        memcpy(w, p[i].name, nl);
        w += nl;
        *w++ = '=';
        memcpy(w, p[i].value, vl);
        w += vl;
    }
    kg_buf_commit(b, need);
    return KG_OK;
}

static int has_token(const struct sigv4_credentials *c)
{
    return c->session_token && c->session_token[0];
}

void sigv4_result_init(struct sigv4_result *r)
{
    memset(r, 0, sizeof *r);
    /* The canonical request and the query carry the session token, the
     * authorization the signature: secret buffers, wiped as they grow and when
     * freed. */
    kg_buf_init_secret(&r->canonical_request, SIGV4_MAX_STRING);
    kg_buf_init(&r->string_to_sign, SIGV4_MAX_STRING);
    kg_buf_init(&r->signed_headers, SIGV4_MAX_STRING);
    kg_buf_init_secret(&r->authorization, SIGV4_MAX_STRING);
    kg_buf_init_secret(&r->query, SIGV4_MAX_STRING);
    /* Sized for a presigned URL with an STS session token: one allocation each. */
    kg_buf_presize(&r->canonical_request, 2048);
    kg_buf_presize(&r->string_to_sign, 256);
    kg_buf_presize(&r->query, 2048);
}

void sigv4_result_cleanup(struct sigv4_result *r)
{
    kg_buf_free(&r->canonical_request);
    kg_buf_free(&r->string_to_sign);
    kg_buf_free(&r->signed_headers);
    kg_buf_free(&r->authorization);
    kg_buf_free(&r->query);
}

static enum kg_err check_context(const struct sigv4_context *ctx,
                                 const struct sigv4_request *req)
{
    const struct sigv4_credentials *c = ctx->creds;
    if (!c || !c->access_key_id || !c->access_key_id[0] || !c->secret_access_key ||
        !c->secret_access_key[0] || !ctx->region || !ctx->region[0] || !ctx->service ||
        !ctx->service[0] || !req->method || !req->method[0])
        return KG_ERR_BAD_REQUEST;
    if (req->header_count > SIGV4_MAX_HEADERS || req->param_count > SIGV4_MAX_PARAMS)
        return KG_ERR_BAD_REQUEST;
    /* Characters that would break the line-oriented formats. */
    if (strpbrk(c->access_key_id, "\r\n/") || strpbrk(ctx->region, "\r\n/") ||
        strpbrk(ctx->service, "\r\n/"))
        return KG_ERR_BAD_REQUEST;
    return KG_OK;
}

/* One signing in progress: what the steps below share. Each step fills one
 * of the strings the AWS suite's vectors check (the canonical request, the
 * string to sign, the signature, the authorization or the presigned query). */
struct signing {
    const struct sigv4_context *ctx;
    const struct sigv4_request *req;
    int64_t presign_expires_s; /* < 0: header mode */
    int sign_token;            /* the session token is signed (not only sent) */
    char scope[256];
    char date8[9];
    struct sign_state st;
    struct sigv4_result *out;
};

static int signing_presigns(const struct signing *g) { return g->presign_expires_s >= 0; }

/* Step 1: date, scope and payload hash. */
static enum kg_err sign_scope(struct signing *g)
{
    const struct sigv4_context *ctx = g->ctx;
    struct sigv4_result *out = g->out;
    kg_time_format_amz(ctx->now_epoch_s, out->amz_date);
    memcpy(g->date8, out->amz_date, 8);
    g->date8[8] = '\0';
    /* date/region/service/aws4_request, refused when it does not fit (a fixed
     * buffer does not grow). Appended piece by piece: snprintf cost ~1,000
     * instructions a signature. */
    struct kg_buf sc;
    kg_buf_init_fixed(&sc, g->scope, sizeof g->scope);
    const char *parts[] = {g->date8, "/", ctx->region, "/", ctx->service, "/aws4_request"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (kg_buf_append_str(&sc, parts[i]) != KG_OK)
            return KG_ERR_BAD_REQUEST;
    if (ctx->flags & SIGV4_HASH_BODY)
        kg_sha256_hex(g->req->body ? g->req->body : "", g->req->body ? g->req->body_len : 0,
                      out->payload_hash);
    else
        memcpy(out->payload_hash, SIGV4_EMPTY_SHA256, sizeof SIGV4_EMPTY_SHA256);
    return KG_OK;
}

/* Step 2: the headers to sign (the request's, plus what header mode adds),
 * sorted, and the signed-headers list. */
static enum kg_err sign_headers_list(struct signing *g)
{
    const struct sigv4_credentials *creds = g->ctx->creds;
    struct sign_state *st = &g->st;
    struct sigv4_result *out = g->out;
    enum kg_err err = KG_OK;
    for (size_t i = 0; i < g->req->header_count && err == KG_OK; i++)
        err = add_header(st, g->req->headers[i].name, g->req->headers[i].name_len,
                         g->req->headers[i].value, g->req->headers[i].value_len);
    if (err != KG_OK)
        return err;
    out->added_count = 0;
    if (!signing_presigns(g)) {
        out->added[out->added_count++] =
            (struct sigv4_header){"X-Amz-Date", 10, out->amz_date, KG_AMZ_DATE_LEN};
        if (has_token(creds))
            out->added[out->added_count++] = (struct sigv4_header){
                "X-Amz-Security-Token", 20, creds->session_token, strlen(creds->session_token)};
        if (g->ctx->flags & SIGV4_ADD_CONTENT_SHA256)
            out->added[out->added_count++] =
                (struct sigv4_header){"x-amz-content-sha256", 20, out->payload_hash, 64};
        for (size_t i = 0; i < out->added_count && err == KG_OK; i++) {
            const struct sigv4_header *h = &out->added[i];
            if (h->value == creds->session_token && !g->sign_token)
                continue; /* the token is sent, not signed */
            err = add_header(st, h->name, h->name_len, h->value, h->value_len);
        }
        if (err != KG_OK)
            return err;
    }
    sort_small(st->headers, st->header_count, sizeof st->headers[0], header_cmp);
    /* Signed headers: distinct names in order. */
    for (size_t i = 0; i < st->header_count && err == KG_OK; i++) {
        if (i && strcmp(st->headers[i].name, st->headers[i - 1].name) == 0)
            continue;
        if (out->signed_headers.len)
            err = kg_buf_append_char(&out->signed_headers, ';');
        if (err == KG_OK)
            err = kg_buf_append_str(&out->signed_headers, st->headers[i].name);
    }
    return err;
}

/* The parameters presigning adds itself: a request carrying one (in any case)
 * would send two, one of them unsigned or forged (X-Amz-Signature twice). */
static int presign_reserved(const char *name, size_t len)
{
    static const char *const names[] = {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",
                                        "X-Amz-Expires", "X-Amz-SignedHeaders",
                                        "X-Amz-Security-Token", "X-Amz-Signature"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (len == strlen(names[i]) && strncasecmp(name, names[i], len) == 0)
            return 1;
    return 0;
}

/* Step 3: the query parameters (the request's, plus what presigning adds),
 * resolved and sorted. */
static enum kg_err sign_params(struct signing *g)
{
    const struct sigv4_credentials *creds = g->ctx->creds;
    struct sign_state *st = &g->st;
    struct sigv4_result *out = g->out;
    enum kg_err err = KG_OK;
    for (size_t i = 0; i < g->req->param_count && signing_presigns(g); i++)
        if (presign_reserved(g->req->params[i].name, g->req->params[i].name_len))
            return KG_ERR_BAD_REQUEST;
    for (size_t i = 0; i < g->req->param_count && err == KG_OK; i++)
        err = add_param(st, g->req->params[i].name, g->req->params[i].name_len,
                        g->req->params[i].value, g->req->params[i].value_len);
    if (err == KG_OK && signing_presigns(g)) {
        if (g->presign_expires_s < 1 || g->presign_expires_s > SIGV4_MAX_EXPIRES_S)
            return KG_ERR_BAD_REQUEST;
        char expires[KG_DECIMAL_MAX + 1];
        kg_decimal(g->presign_expires_s, expires);
        struct kg_buf credential;
        kg_buf_init(&credential, SIGV4_MAX_STRING);
        err = kg_buf_append_str(&credential, creds->access_key_id);
        if (err == KG_OK)
            err = kg_buf_append_char(&credential, '/');
        if (err == KG_OK)
            err = kg_buf_append_str(&credential, g->scope);
        if (err == KG_OK)
            err = add_param(st, "X-Amz-Algorithm", 15, SIGV4_ALGORITHM,
                            sizeof SIGV4_ALGORITHM - 1);
        if (err == KG_OK)
            err = add_param(st, "X-Amz-Credential", 16, credential.data, credential.len);
        if (err == KG_OK)
            err = add_param(st, "X-Amz-Date", 10, out->amz_date, KG_AMZ_DATE_LEN);
        if (err == KG_OK)
            err = add_param(st, "X-Amz-Expires", 13, expires, strlen(expires));
        if (err == KG_OK)
            err = add_param(st, "X-Amz-SignedHeaders", 19, out->signed_headers.data,
                            out->signed_headers.len);
        if (err == KG_OK && g->sign_token)
            err = add_param(st, "X-Amz-Security-Token", 20, creds->session_token,
                            strlen(creds->session_token));
        kg_buf_free(&credential);
    }
    if (err != KG_OK)
        return err;
    params_resolve(st);
    sort_small(st->params, st->param_count, sizeof st->params[0], param_cmp);
    return KG_OK;
}

/* Step 4: the canonical request. */
static enum kg_err sign_canonical_request(struct signing *g)
{
    const struct sign_state *st = &g->st;
    struct sigv4_result *out = g->out;
    struct kg_buf *cr = &out->canonical_request;
    enum kg_err err = kg_buf_append_str(cr, g->req->method);
    if (err == KG_OK)
        err = kg_buf_append_char(cr, '\n');
    if (err == KG_OK)
        err = canonical_uri(cr, g->req, g->ctx->flags);
    if (err == KG_OK)
        err = kg_buf_append_char(cr, '\n');
    if (err == KG_OK)
        err = append_params(cr, st->params, st->param_count);
    if (err == KG_OK)
        err = kg_buf_append_char(cr, '\n');
    for (size_t i = 0; i < st->header_count && err == KG_OK; i++) {
        const struct canon_header *h = &st->headers[i];
        int first = i == 0 || strcmp(h->name, st->headers[i - 1].name) != 0;
        int last = i + 1 == st->header_count || strcmp(h->name, st->headers[i + 1].name) != 0;
        if (first) {
            err = kg_buf_append(cr, h->name, h->name_len);
            if (err == KG_OK)
                err = kg_buf_append_char(cr, ':');
        } else {
            err = kg_buf_append_char(cr, ',');
        }
        if (err == KG_OK)
            err = append_header_value(cr, h->value, h->value_len);
        if (err == KG_OK && last)
            err = kg_buf_append_char(cr, '\n');
    }
    if (err == KG_OK)
        err = kg_buf_append_char(cr, '\n');
    if (err == KG_OK)
        err = kg_buf_append(cr, out->signed_headers.data, out->signed_headers.len);
    if (err == KG_OK)
        err = kg_buf_append_char(cr, '\n');
    if (err == KG_OK)
        err = kg_buf_append(cr, out->payload_hash, 64);
    return err;
}

/* Step 5: the string to sign and the signature. */
static enum kg_err sign_signature(struct signing *g)
{
    struct sigv4_result *out = g->out;
    char cr_hash[65];
    kg_sha256_hex(out->canonical_request.data, out->canonical_request.len, cr_hash);
    struct kg_buf *sts = &out->string_to_sign;
    enum kg_err err = kg_buf_append_str(sts, SIGV4_ALGORITHM "\n");
    if (err == KG_OK)
        err = kg_buf_append(sts, out->amz_date, KG_AMZ_DATE_LEN);
    if (err == KG_OK)
        err = kg_buf_append_char(sts, '\n');
    if (err == KG_OK)
        err = kg_buf_append_str(sts, g->scope);
    if (err == KG_OK)
        err = kg_buf_append_char(sts, '\n');
    if (err == KG_OK)
        err = kg_buf_append(sts, cr_hash, 64);
    if (err != KG_OK)
        return err;
    unsigned char key[32], sig[32];
    signing_key(g->ctx->creds->secret_access_key, g->date8, g->ctx->region, g->ctx->service, key);
    kg_hmac_sha256(key, sizeof key, sts->data, sts->len, sig);
    kg_wipe(key, sizeof key);
    kg_hex_lower(sig, sizeof sig, out->signature);
    return KG_OK;
}

/* Step 6: what the caller sends: the Authorization header, or the final
 * query (canonical params plus the signature, and an unsigned token,
 * re-sorted so X-Amz-Signature sits at its sorted place). */
static enum kg_err sign_output(struct signing *g)
{
    const struct sigv4_credentials *creds = g->ctx->creds;
    struct sigv4_result *out = g->out;
    struct sign_state *st = &g->st;
    if (!signing_presigns(g))
        return kg_buf_appendf(&out->authorization,
                              SIGV4_ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                              creds->access_key_id, g->scope, out->signed_headers.data,
                              out->signature);
    enum kg_err err = add_param(st, "X-Amz-Signature", 15, out->signature, 64);
    if (err == KG_OK && has_token(creds) && !g->sign_token)
        err = add_param(st, "X-Amz-Security-Token", 20, creds->session_token,
                        strlen(creds->session_token));
    if (err != KG_OK)
        return err;
    params_resolve(st);
    sort_small(st->params, st->param_count, sizeof st->params[0], param_cmp);
    err = kg_buf_reserve(&out->query, st->arena.len + st->param_count);
    if (err == KG_OK)
        err = append_params(&out->query, st->params, st->param_count);
    return err;
}

/* presign_expires_s < 0 selects header mode. */
static enum kg_err sigv4_sign(const struct sigv4_context *ctx, const struct sigv4_request *req,
                              int64_t presign_expires_s, struct sigv4_result *out)
{
    enum kg_err err = check_context(ctx, req);
    if (err != KG_OK)
        return err;
    /* Field by field: an initializer would zero the whole state, its header
     * and parameter tables (7 KiB), on every signature. */
    struct signing g;
    g.ctx = ctx;
    g.req = req;
    g.presign_expires_s = presign_expires_s;
    g.sign_token = has_token(ctx->creds) && !(ctx->flags & SIGV4_OMIT_SESSION_TOKEN);
    g.out = out;
    g.scope[0] = '\0';
    g.date8[0] = '\0';
    state_init(&g.st);
    /* Room for a typical request up front (growth from 64 bytes reallocates
     * each buffer four or five times): a capacity hint, not a reservation,
     * which would mark the whole room as written and have every wipe of these
     * secret buffers cover it. */
    kg_buf_presize(&g.st.arena, 2048);
    kg_buf_presize(&out->canonical_request, 1024);
    err = sign_scope(&g);
    if (err == KG_OK)
        err = sign_headers_list(&g);
    if (err == KG_OK)
        err = sign_params(&g);
    if (err == KG_OK)
        err = sign_canonical_request(&g);
    if (err == KG_OK)
        err = sign_signature(&g);
    if (err == KG_OK)
        err = sign_output(&g);
    state_free(&g.st);
    return err;
}

enum kg_err sigv4_sign_headers(const struct sigv4_context *ctx, const struct sigv4_request *req,
                               struct sigv4_result *out)
{
    return sigv4_sign(ctx, req, -1, out);
}

/* Empties r for the next signature, wiping what it held (scratch_keep). */
static void result_reset(struct sigv4_result *r)
{
    struct kg_buf *bufs[] = {&r->canonical_request, &r->string_to_sign, &r->signed_headers,
                             &r->authorization, &r->query};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        (void)scratch_keep(bufs[i]);
    kg_wipe(r->signature, sizeof r->signature);
    kg_wipe(r->added, sizeof r->added);
    r->added_count = 0;
}

enum kg_err sigv4_presign_query(const struct sigv4_context *ctx, const struct sigv4_request *req,
                                int64_t expires_s, struct kg_buf *query_out)
{
    struct key_cache *c = key_cache_get();
    if (!c->scratch_ready) {
        sigv4_result_init(&c->scratch);
        c->scratch_ready = 1;
    }
    enum kg_err err = sigv4_presign(ctx, req, expires_s, &c->scratch);
    if (err == KG_OK)
        err = kg_buf_append(query_out, c->scratch.query.data, c->scratch.query.len);
    result_reset(&c->scratch);
    return err;
}

enum kg_err sigv4_presign(const struct sigv4_context *ctx, const struct sigv4_request *req,
                          int64_t expires_s, struct sigv4_result *out)
{
    if (expires_s < 1 || expires_s > SIGV4_MAX_EXPIRES_S)
        return KG_ERR_BAD_REQUEST;
    return sigv4_sign(ctx, req, expires_s, out);
}
