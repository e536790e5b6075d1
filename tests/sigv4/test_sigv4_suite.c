/* One case of the AWS SigV4 test suite (tests/vectors/sigv4/suite/<case>/),
 * header signing and presigning, every intermediate string checked against the
 * case's files, read at test time. Usage: test_sigv4_suite CASE_DIR */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/testlib.h"
#include "aws/sigv4.h"
#include "core/buf.h"
#include "core/encode.h"
#include "core/mem.h"
#include "core/timeutil.h"

#define MAX_ITEMS 64

struct http_msg {
    char *request_line;
    char *method;
    char *path;  /* raw */
    char *query; /* raw text after '?', or NULL */
    struct sigv4_header headers[MAX_ITEMS];
    size_t header_count;
    char *body;
    size_t body_len;
};

struct pair {
    char *name;
    char *value;
};

static const char *case_dir;

static char *read_case_file(const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", case_dir, name);
    char *data = t_read_file(path, len);
    if (!data) {
        t_fail(__FILE__, __LINE__, "cannot read %s", path);
        exit(1);
    }
    return data;
}

/* Parses the suite's request format (see tests/vectors/sigv4/suite/README.md). */
static void parse_msg(char *text, struct http_msg *m)
{
    memset(m, 0, sizeof *m);
    char *eol = strchr(text, '\n');
    char *line_end = eol ? eol : text + strlen(text);
    m->request_line = kg_strndup(text, (size_t)(line_end - text));
    char *sp = strchr(m->request_line, ' ');
    T_CHECK(sp != NULL);
    m->method = kg_strndup(m->request_line, (size_t)(sp - m->request_line));
    size_t tlen = strlen(sp + 1);
    T_CHECK(tlen > 9 && strcmp(sp + 1 + tlen - 9, " HTTP/1.1") == 0);
    char *target = kg_strndup(sp + 1, tlen - 9);
    char *q = strchr(target, '?');
    if (q) {
        m->query = kg_strdup(q + 1);
        *q = '\0';
    }
    m->path = target;
    if (!eol)
        return;
    char *p = eol + 1;
    for (;;) {
        char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0) {
            if (e) {
                m->body = kg_strdup(e + 1);
                m->body_len = strlen(e + 1);
            }
            break;
        }
        if ((p[0] == ' ' || p[0] == '\t') && m->header_count > 0) {
            /* obsolete line folding: continue the previous value */
            struct sigv4_header *h = &m->headers[m->header_count - 1];
            char *v = kg_malloc(h->value_len + 1 + n + 1);
            memcpy(v, h->value, h->value_len);
            v[h->value_len] = '\n';
            memcpy(v + h->value_len + 1, p, n);
            v[h->value_len + 1 + n] = '\0';
            free((char *)h->value);
            h->value = v;
            h->value_len += 1 + n;
        } else {
            char *colon = memchr(p, ':', n);
            T_CHECK(colon != NULL);
            T_CHECK(m->header_count < MAX_ITEMS);
            struct sigv4_header *h = &m->headers[m->header_count++];
            h->name = kg_strndup(p, (size_t)(colon - p));
            h->name_len = (size_t)(colon - p);
            h->value = kg_strndup(colon + 1, n - (size_t)(colon - p) - 1);
            h->value_len = n - (size_t)(colon - p) - 1;
        }
        if (!e)
            break;
        p = e + 1;
    }
}

static void free_msg(struct http_msg *m)
{
    free(m->request_line);
    free(m->method);
    free(m->path);
    free(m->query);
    for (size_t i = 0; i < m->header_count; i++) {
        free((char *)m->headers[i].name);
        free((char *)m->headers[i].value);
    }
    free(m->body);
}

static char *decode(const char *s, size_t n)
{
    struct kg_buf b;
    kg_buf_init(&b, 1 << 20);
    if (kg_uri_decode(&b, s, n, 0) != KG_OK)
        t_fail(__FILE__, __LINE__, "bad percent-encoding in %.*s", (int)n, s);
    return kg_buf_take(&b, NULL);
}

/* Splits a query string into decoded (raw) name/value pairs. */
static size_t split_query(const char *query, struct pair *out)
{
    size_t count = 0;
    if (!query || !*query)
        return 0;
    const char *p = query;
    for (;;) {
        size_t n = strcspn(p, "&");
        const char *eq = memchr(p, '=', n);
        T_CHECK(count < MAX_ITEMS);
        if (eq) {
            out[count].name = decode(p, (size_t)(eq - p));
            out[count].value = decode(eq + 1, n - (size_t)(eq - p) - 1);
        } else {
            out[count].name = decode(p, n);
            out[count].value = kg_strdup("");
        }
        count++;
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    return count;
}

static int pair_cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static void free_pairs(struct pair *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].value);
    }
}

/* Compares two lists of pairs as multisets. */
static void check_pairs(const char *what, struct pair *got, size_t ng, struct pair *want,
                        size_t nw)
{
    qsort(got, ng, sizeof *got, pair_cmp);
    qsort(want, nw, sizeof *want, pair_cmp);
    if (ng != nw) {
        t_fail(__FILE__, __LINE__, "%s: got %zu entries, want %zu", what, ng, nw);
        return;
    }
    for (size_t i = 0; i < ng; i++) {
        T_STREQ(got[i].name, want[i].name);
        T_STREQ(got[i].value, want[i].value);
    }
}

static size_t header_pairs(const struct sigv4_header *h, size_t n, struct pair *out)
{
    for (size_t i = 0; i < n; i++) {
        out[i].name = kg_strndup(h[i].name, h[i].name_len);
        for (char *c = out[i].name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        out[i].value = kg_strndup(h[i].value, h[i].value_len);
    }
    return n;
}

static void check_text(const char *file, const struct kg_buf *got)
{
    size_t len;
    char *want = read_case_file(file, &len);
    if (!T_MEMEQ(got->data, got->len, want, len))
        fprintf(stderr, "    (expected from %s)\n", file);
    free(want);
}

struct case_ctx {
    struct sigv4_credentials creds;
    struct sigv4_context ctx;
    int64_t expires_s;
    json_t *json;
};

static void load_context(struct case_ctx *c)
{
    size_t len;
    char *text = read_case_file("context.json", &len);
    json_error_t jerr;
    c->json = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!c->json) {
        t_fail(__FILE__, __LINE__, "context.json: %s", jerr.text);
        exit(1);
    }
    json_t *creds = json_object_get(c->json, "credentials");
    c->creds.access_key_id = json_string_value(json_object_get(creds, "access_key_id"));
    c->creds.secret_access_key = json_string_value(json_object_get(creds, "secret_access_key"));
    c->creds.session_token = json_string_value(json_object_get(creds, "token"));
    c->ctx.creds = &c->creds;
    c->ctx.region = json_string_value(json_object_get(c->json, "region"));
    c->ctx.service = json_string_value(json_object_get(c->json, "service"));
    const char *ts = json_string_value(json_object_get(c->json, "timestamp"));
    T_CHECK(ts && kg_time_parse_iso8601(ts, &c->ctx.now_epoch_s) == KG_OK);
    c->ctx.flags = 0;
    if (json_is_true(json_object_get(c->json, "normalize")))
        c->ctx.flags |= SIGV4_NORMALIZE_PATH;
    if (json_is_true(json_object_get(c->json, "sign_body")))
        c->ctx.flags |= SIGV4_HASH_BODY | SIGV4_ADD_CONTENT_SHA256;
    if (json_is_true(json_object_get(c->json, "omit_session_token")))
        c->ctx.flags |= SIGV4_OMIT_SESSION_TOKEN;
    json_t *exp = json_object_get(c->json, "expiration_in_seconds");
    T_CHECK(json_is_integer(exp));
    c->expires_s = json_integer_value(exp);
}

static void build_request(const struct http_msg *m, struct sigv4_request *req,
                          struct sigv4_param *params, struct pair *raw_params)
{
    size_t n = split_query(m->query, raw_params);
    for (size_t i = 0; i < n; i++)
        params[i] = (struct sigv4_param){raw_params[i].name, strlen(raw_params[i].name),
                                         raw_params[i].value, strlen(raw_params[i].value)};
    *req = (struct sigv4_request){
        .method = m->method,
        .path = m->path,
        .path_len = strlen(m->path),
        .params = params,
        .param_count = n,
        .headers = m->headers,
        .header_count = m->header_count,
        .body = m->body,
        .body_len = m->body_len,
    };
}

static void run_header_mode(struct case_ctx *c, const struct http_msg *m)
{
    struct sigv4_param params[MAX_ITEMS];
    struct pair raw[MAX_ITEMS];
    struct sigv4_request req;
    build_request(m, &req, params, raw);
    struct sigv4_result res;
    sigv4_result_init(&res);
    enum kg_err err = sigv4_sign_headers(&c->ctx, &req, &res);
    T_INTEQ(err, KG_OK);
    check_text("header-canonical-request.txt", &res.canonical_request);
    check_text("header-string-to-sign.txt", &res.string_to_sign);
    size_t slen;
    char *sig = read_case_file("header-signature.txt", &slen);
    T_MEMEQ(res.signature, strlen(res.signature), sig, slen);
    free(sig);

    /* The signed request: same request line and body, and the header multiset
     * of the original plus what the signer adds. */
    char *text = read_case_file("header-signed-request.txt", NULL);
    struct http_msg want;
    parse_msg(text, &want);
    T_STREQ(m->request_line, want.request_line);
    T_MEMEQ(m->body ? m->body : "", m->body_len, want.body ? want.body : "", want.body_len);
    struct sigv4_header mine[MAX_ITEMS + 4];
    size_t n = 0;
    for (size_t i = 0; i < m->header_count; i++)
        mine[n++] = m->headers[i];
    for (size_t i = 0; i < res.added_count; i++)
        mine[n++] = res.added[i];
    mine[n++] = (struct sigv4_header){"Authorization", 13, res.authorization.data,
                                      res.authorization.len};
    struct pair got_h[MAX_ITEMS + 4], want_h[MAX_ITEMS];
    size_t ng = header_pairs(mine, n, got_h);
    size_t nw = header_pairs(want.headers, want.header_count, want_h);
    check_pairs("signed request headers", got_h, ng, want_h, nw);
    free_pairs(got_h, ng);
    free_pairs(want_h, nw);
    free_msg(&want);
    free(text);
    free_pairs(raw, req.param_count);
    sigv4_result_cleanup(&res);
}

static void run_query_mode(struct case_ctx *c, const struct http_msg *m)
{
    struct sigv4_param params[MAX_ITEMS];
    struct pair raw[MAX_ITEMS];
    struct sigv4_request req;
    build_request(m, &req, params, raw);
    struct sigv4_result res;
    sigv4_result_init(&res);
    enum kg_err err = sigv4_presign(&c->ctx, &req, c->expires_s, &res);
    T_INTEQ(err, KG_OK);
    check_text("query-canonical-request.txt", &res.canonical_request);
    check_text("query-string-to-sign.txt", &res.string_to_sign);
    size_t slen;
    char *sig = read_case_file("query-signature.txt", &slen);
    T_MEMEQ(res.signature, strlen(res.signature), sig, slen);
    free(sig);

    /* The signed request: same method, path, headers and body; the query
     * compared as a set of decoded parameters (order is not part of SigV4). */
    char *text = read_case_file("query-signed-request.txt", NULL);
    struct http_msg want;
    parse_msg(text, &want);
    T_STREQ(m->method, want.method);
    T_STREQ(m->path, want.path);
    struct pair got_q[MAX_ITEMS], want_q[MAX_ITEMS];
    size_t ng = split_query(res.query.data, got_q);
    size_t nw = split_query(want.query, want_q);
    check_pairs("signed query", got_q, ng, want_q, nw);
    free_pairs(got_q, ng);
    free_pairs(want_q, nw);
    struct pair got_h[MAX_ITEMS], want_h[MAX_ITEMS];
    ng = header_pairs(m->headers, m->header_count, got_h);
    nw = header_pairs(want.headers, want.header_count, want_h);
    check_pairs("signed request headers", got_h, ng, want_h, nw);
    free_pairs(got_h, ng);
    free_pairs(want_h, nw);
    T_MEMEQ(m->body ? m->body : "", m->body_len, want.body ? want.body : "", want.body_len);
    free_msg(&want);
    free(text);
    free_pairs(raw, req.param_count);
    sigv4_result_cleanup(&res);
}

static struct case_ctx the_case;
static struct http_msg the_request;

static void test_header_signing(void) { run_header_mode(&the_case, &the_request); }
static void test_presigning(void) { run_query_mode(&the_case, &the_request); }

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE_DIR\n", argv[0]);
        return 2;
    }
    case_dir = argv[1];
    load_context(&the_case);
    char *text = read_case_file("request.txt", NULL);
    parse_msg(text, &the_request);
    static const struct t_case cases[] = {T_CASE(test_header_signing), T_CASE(test_presigning)};
    int rc = t_main(cases, T_COUNT(cases), 1, argv);
    free_msg(&the_request);
    free(text);
    json_decref(the_case.json);
    return rc || t_failures ? 1 : 0;
}
