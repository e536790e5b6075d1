/* The policy file: text (JSON, or YAML through libyaml) to one jansson tree,
 * then the tree checked member by member into jwtv_issuer structs whose
 * strings point into the tree (kept alive with them).
 *
 * Design note:
 * - YAML comes in through libyaml's document API and is converted node by
 *   node; aliases are followed, so the conversion counts every node it visits
 *   and stops at POLICY_NODES_MAX (an alias bomb expands to billions) and at
 *   POLICY_DEPTH_MAX. Plain scalars true/false, null/~ and decimal integers
 *   take their YAML 1.2 core-schema types; everything else is a string (no
 *   yes/no/on/off surprises). A duplicate key is an error, as in JSON.
 * - Unknown members are errors: a misspelt "audiance" must not quietly leave
 *   the audience unchecked.
 * - Secrets (hs256SecretFile) are read by policy_file_load after the text
 *   checked out, into wiped memory; PEM files are only named, the verifier
 *   reads them. Both are watched by the reloader. */
#include "service/policy.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/buf.h"
#include "core/file.h"
#include "core/mem.h"

#define POLICY_NODES_MAX 20000
#define POLICY_DEPTH_MAX 16
#define POLICY_RULES_MAX 256
#define POLICY_LIST_MAX 256
#define POLICY_SECRET_MAX 4096

struct policy_file {
    json_t *root;
    struct jwtv_issuer issuers[JWTV_MAX_ISSUERS];
    size_t count;
    struct jwtv_rule rules[POLICY_RULES_MAX];
    size_t rule_count;
    void **allocs; /* the string arrays the issuers and rules point at */
    size_t alloc_count, alloc_cap;
    unsigned char *secrets[JWTV_MAX_ISSUERS];
    size_t secret_lens[JWTV_MAX_ISSUERS];
    const char *secret_files[JWTV_MAX_ISSUERS];
    const char *files[POLICY_FILES_MAX];
    size_t file_count;
};

/* ---- errors ---------------------------------------------------------------------- */

struct parse {
    const char *name; /* the file, for messages */
    char *why;
    size_t why_len;
    struct policy_file *p;
    char path[512]; /* where the check is: "issuers[1].audience" */
};

__attribute__((format(printf, 2, 3))) static enum kg_err fail(struct parse *ps, const char *fmt,
                                                               ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(ps->why, ps->why_len, "%s: %s%s%s", ps->name, ps->path, ps->path[0] ? ": " : "",
             msg);
    /* Member names and parser messages quote the file: one line, no control
     * characters, wherever it is printed. */
    for (char *c = ps->why; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return KG_ERR_BAD_REQUEST;
}

/* Appends ".member" or "[i]" to the path; returns the old length to restore. */
static size_t path_push(struct parse *ps, const char *member, long index)
{
    size_t n = strlen(ps->path);
    if (member)
        snprintf(ps->path + n, sizeof ps->path - n, "%s%s", n ? "." : "", member);
    else
        snprintf(ps->path + n, sizeof ps->path - n, "[%ld]", index);
    return n;
}

static void path_pop(struct parse *ps, size_t n) { ps->path[n] = '\0'; }

/* ---- YAML to JSON ---------------------------------------------------------------- */

struct yaml_conv {
    yaml_document_t *doc;
    size_t visits;
    const char *error;
    size_t line, column;
};

static json_t *yaml_scalar(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if ((len == 4 && memcmp(v, "true", 4) == 0))
            return json_true();
        if ((len == 5 && memcmp(v, "false", 5) == 0))
            return json_false();
        if ((len == 4 && memcmp(v, "null", 4) == 0) || (len == 1 && v[0] == '~') || len == 0)
            return json_null();
        size_t digits = len && v[0] == '-' ? 1 : 0;
        while (digits < len && v[digits] >= '0' && v[digits] <= '9')
            digits++;
        if (digits == len && len > (size_t)(v[0] == '-') && len <= 18)
            return json_integer(strtoll(v, NULL, 10));
    }
    return json_stringn(v, len); /* NULL when not UTF-8 */
}

static json_t *yaml_node(struct yaml_conv *c, int index, int depth)
{
    yaml_node_t *n = yaml_document_get_node(c->doc, index);
    if (!n || c->error)
        return NULL;
    c->line = n->start_mark.line + 1;
    c->column = n->start_mark.column + 1;
    if (++c->visits > POLICY_NODES_MAX || depth > POLICY_DEPTH_MAX) {
        c->error = "too many nodes or too deep (aliases are expanded)";
        return NULL;
    }
    if (n->type == YAML_SCALAR_NODE) {
        json_t *s = yaml_scalar(n);
        if (!s)
            c->error = "text that is not UTF-8";
        return s;
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             it < n->data.sequence.items.top && !c->error; it++) {
            json_t *v = yaml_node(c, *it, depth + 1);
            if (v)
                json_array_append_new(a, v);
        }
        return a;
    }
    json_t *o = json_object();
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
         pr < n->data.mapping.pairs.top && !c->error; pr++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pr->key);
        if (!k || k->type != YAML_SCALAR_NODE) {
            c->line = n->start_mark.line + 1;
            c->error = "a key that is not a string";
            break;
        }
        char *key = kg_strndup((const char *)k->data.scalar.value, k->data.scalar.length);
        if (json_object_get(o, key)) {
            c->line = k->start_mark.line + 1;
            c->column = k->start_mark.column + 1;
            c->error = "a key given twice";
        } else {
            json_t *v = yaml_node(c, pr->value, depth + 1);
            if (v && json_object_set_new(o, key, v) != 0)
                c->error = "a key that is not UTF-8";
        }
        free(key);
    }
    return o;
}

static json_t *parse_yaml(const char *text, size_t len, struct parse *ps, enum kg_err *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    *err = KG_ERR_BAD_REQUEST;
    if (!yaml_parser_initialize(&parser))
        abort();
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        fail(ps, "line %zu column %zu: %s", parser.problem_mark.line + 1,
             parser.problem_mark.column + 1, parser.problem ? parser.problem : "not YAML");
        yaml_parser_delete(&parser);
        return NULL;
    }
    struct yaml_conv c = {.doc = &doc};
    json_t *root = yaml_document_get_root_node(&doc) ? yaml_node(&c, 1, 0) : NULL;
    if (c.error) {
        fail(ps, "line %zu column %zu: %s", c.line, c.column, c.error);
        json_decref(root);
        root = NULL;
    } else if (!root) {
        fail(ps, "empty");
    } else {
        *err = KG_OK;
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return root;
}

static json_t *parse_text(const char *text, size_t len, struct parse *ps, enum kg_err *err)
{
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    if (i < len && text[i] == '{') {
        json_error_t e;
        json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
        *err = root ? KG_OK : fail(ps, "line %d column %d: %s", e.line, e.column, e.text);
        return root;
    }
    return parse_yaml(text, len, ps, err);
}

/* ---- members ----------------------------------------------------------------------- */

static void *remember(struct policy_file *p, void *block)
{
    if (p->alloc_count == p->alloc_cap) {
        p->alloc_cap = p->alloc_cap ? 2 * p->alloc_cap : 32;
        p->allocs = kg_realloc(p->allocs, p->alloc_cap * sizeof *p->allocs);
    }
    p->allocs[p->alloc_count++] = block;
    return block;
}

/* Only the members in allowed (NULL-terminated). */
static enum kg_err only_members(struct parse *ps, json_t *o, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        int known = 0;
        for (const char *const *a = allowed; *a; a++)
            known |= strcmp(key, *a) == 0;
        if (!known)
            return fail(ps, "unknown member \"%.64s\"", key);
    }
    return KG_OK;
}

static enum kg_err member_string(struct parse *ps, json_t *o, const char *name, int required,
                                 size_t max, const char **out)
{
    json_t *v = json_object_get(o, name);
    *out = NULL;
    if (!v && !required)
        return KG_OK;
    size_t n = path_push(ps, name, 0);
    enum kg_err err = KG_OK;
    if (!v)
        err = fail(ps, "required");
    else if (!json_is_string(v) || json_string_length(v) > max ||
             strlen(json_string_value(v)) != json_string_length(v))
        err = fail(ps, "must be a string of at most %zu bytes", max);
    else
        *out = json_string_value(v);
    path_pop(ps, n);
    return err;
}

static enum kg_err member_bool(struct parse *ps, json_t *o, const char *name, int *out)
{
    json_t *v = json_object_get(o, name);
    *out = 0;
    if (!v)
        return KG_OK;
    if (!json_is_boolean(v)) {
        size_t n = path_push(ps, name, 0);
        enum kg_err err = fail(ps, "must be true or false");
        path_pop(ps, n);
        return err;
    }
    *out = json_is_true(v);
    return KG_OK;
}

/* A string or a list of strings (1..POLICY_LIST_MAX of 1..max bytes). */
static enum kg_err member_list(struct parse *ps, json_t *o, const char *name, size_t max,
                               const char *const **out, size_t *count)
{
    json_t *v = json_object_get(o, name);
    *out = NULL;
    *count = 0;
    if (!v)
        return KG_OK;
    size_t n = path_push(ps, name, 0);
    enum kg_err err = KG_OK;
    size_t items = json_is_array(v) ? json_array_size(v) : 1;
    if ((!json_is_array(v) && !json_is_string(v)) || items == 0 || items > POLICY_LIST_MAX) {
        err = fail(ps, "must be a string or a list of 1..%d strings", POLICY_LIST_MAX);
    } else {
        const char **list = remember(ps->p, kg_calloc(items, sizeof *list));
        for (size_t i = 0; i < items && err == KG_OK; i++) {
            json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
            if (!json_is_string(item) || json_string_length(item) == 0 ||
                json_string_length(item) > max ||
                strlen(json_string_value(item)) != json_string_length(item))
                err = fail(ps, "item %zu must be a string of 1..%zu bytes", i, max);
            else
                list[i] = json_string_value(item);
        }
        *out = list;
        *count = items;
    }
    path_pop(ps, n);
    return err;
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    return 1;
}

static enum kg_err watch(struct parse *ps, const char *path)
{
    if (ps->p->file_count == POLICY_FILES_MAX)
        return fail(ps, "more than %d key and secret files in all", POLICY_FILES_MAX);
    ps->p->files[ps->p->file_count++] = path;
    return KG_OK;
}

/* ---- issuers ----------------------------------------------------------------------- */

/* audience: {aud, clientId, azp} (each a string or a list), or "any". */
static enum kg_err issuer_audience(struct parse *ps, json_t *o, struct jwtv_issuer *is)
{
    json_t *a = json_object_get(o, "audience");
    size_t n = path_push(ps, "audience", 0);
    enum kg_err err = KG_OK;
    static const char *const allowed[] = {"aud", "clientId", "azp", NULL};
    if (!a)
        err = fail(ps, "required: {aud, clientId or azp}, or \"any\" to check none");
    else if (json_is_string(a) && strcmp(json_string_value(a), "any") == 0)
        err = KG_OK;
    else if (!json_is_object(a) || json_object_size(a) == 0)
        err = fail(ps, "must be {aud, clientId or azp} or \"any\"");
    else if ((err = only_members(ps, a, allowed)) == KG_OK &&
             (err = member_list(ps, a, "aud", 1024, &is->aud, &is->aud_count)) == KG_OK &&
             (err = member_list(ps, a, "clientId", 256, &is->client_id, &is->client_id_count)) ==
                 KG_OK)
        err = member_list(ps, a, "azp", 256, &is->azp, &is->azp_count);
    path_pop(ps, n);
    return err;
}

/* The keys: any mix of hs256SecretFile, publicKeyFiles, and one of jwksUrl
 * and discovery. The secret file is only named here (policy_parse reads no
 * file); policy_file_load reads it. */
static enum kg_err issuer_keys(struct parse *ps, json_t *o, struct jwtv_issuer *is, size_t index)
{
    enum kg_err err =
        member_string(ps, o, "hs256SecretFile", 0, 4096, &ps->p->secret_files[index]);
    if (err == KG_OK)
        err = member_list(ps, o, "publicKeyFiles", 4096, &is->public_key_files,
                          &is->public_key_file_count);
    if (err == KG_OK)
        err = member_string(ps, o, "jwksUrl", 0, 2048, &is->jwks_url);
    if (err == KG_OK)
        err = member_bool(ps, o, "discovery", &is->discovery);
    if (err != KG_OK)
        return err;
    if (!ps->p->secret_files[index] && !is->public_key_file_count && !is->jwks_url &&
        !is->discovery)
        return fail(ps, "no keys: give discovery, jwksUrl, publicKeyFiles or hs256SecretFile");
    if (is->jwks_url && is->discovery)
        return fail(ps, "jwksUrl or discovery, not both");
    for (size_t i = 0; i < is->public_key_file_count && err == KG_OK; i++)
        err = watch(ps, is->public_key_files[i]);
    if (err == KG_OK && ps->p->secret_files[index])
        err = watch(ps, ps->p->secret_files[index]);
    return err;
}

/* Reads issuer index's hs256SecretFile into wiped memory. */
static enum kg_err issuer_secret_read(struct parse *ps, size_t index)
{
    const char *file = ps->p->secret_files[index];
    struct kg_buf b;
    kg_buf_init_secret(&b, POLICY_SECRET_MAX);
    enum kg_err err = kg_file_read(file, &b);
    if (err == KG_OK && b.len && b.data[b.len - 1] == '\n')
        kg_buf_truncate(&b, b.len - 1 - (b.len > 1 && b.data[b.len - 2] == '\r'));
    if (err != KG_OK)
        err = fail(ps, "issuers[%zu].hs256SecretFile: cannot read %s: %s", index, file,
                   err == KG_ERR_PAYLOAD_TOO_LARGE ? "longer than 4096 bytes" : strerror(errno));
    else if (b.len < JWTV_HS256_SECRET_MIN_LEN)
        err = fail(ps, "issuers[%zu].hs256SecretFile: %s holds fewer than %d bytes", index, file,
                   JWTV_HS256_SECRET_MIN_LEN);
    if (err == KG_OK) {
        size_t len = b.len;
        ps->p->secret_lens[index] = len;
        ps->p->secrets[index] = (unsigned char *)kg_buf_take(&b, NULL);
        ps->p->issuers[index].hs256_secret = ps->p->secrets[index];
        ps->p->issuers[index].hs256_secret_len = len;
    }
    kg_buf_free(&b);
    return err;
}

/* grant: {master, viewer, manage: lists of patterns; anyClientId, manageAny}. */
static enum kg_err rule_grant(struct parse *ps, json_t *g, struct jwtv_rule *r)
{
    static const char *const allowed[] = {"master", "viewer", "manage", "anyClientId",
                                          "manageAny", NULL};
    static const char *const perms[AUTHZ_PERM_COUNT] = {"master", "viewer", "manage"};
    size_t n = path_push(ps, "grant", 0);
    enum kg_err err = KG_OK;
    if (!json_is_object(g))
        err = fail(ps, "required: {master, viewer, manage, anyClientId, manageAny}");
    else
        err = only_members(ps, g, allowed);
    for (int perm = 0; perm < AUTHZ_PERM_COUNT && err == KG_OK; perm++)
        err = member_list(ps, g, perms[perm], 512, &r->patterns[perm], &r->pattern_counts[perm]);
    if (err == KG_OK)
        err = member_bool(ps, g, "anyClientId", &r->any_client_id);
    if (err == KG_OK)
        err = member_bool(ps, g, "manageAny", &r->manage_any);
    path_pop(ps, n);
    return err;
}

static enum kg_err issuer_rules(struct parse *ps, json_t *o, struct jwtv_issuer *is)
{
    json_t *rules = json_object_get(o, "rules");
    if (!rules)
        return KG_OK;
    size_t n = path_push(ps, "rules", 0);
    enum kg_err err = KG_OK;
    static const char *const allowed[] = {"claim", "equals", "grant", NULL};
    if (!json_is_array(rules) || json_array_size(rules) > POLICY_RULES_MAX - ps->p->rule_count)
        err = fail(ps, "must be a list of at most %d rules", POLICY_RULES_MAX);
    is->rules = &ps->p->rules[ps->p->rule_count];
    for (size_t i = 0; err == KG_OK && i < json_array_size(rules); i++) {
        json_t *r = json_array_get(rules, i);
        struct jwtv_rule *rule = &ps->p->rules[ps->p->rule_count];
        size_t m = path_push(ps, NULL, (long)i);
        if (!json_is_object(r))
            err = fail(ps, "must be {claim, equals, grant}");
        else if ((err = only_members(ps, r, allowed)) == KG_OK &&
                 (err = member_list(ps, r, "claim", 256, &rule->claim_path,
                                    &rule->claim_path_len)) == KG_OK &&
                 (err = member_string(ps, r, "equals", 0, 512, &rule->equals)) == KG_OK)
            err = rule_grant(ps, json_object_get(r, "grant"), rule);
        if (err == KG_OK && (rule->claim_path_len < 1 || rule->claim_path_len > 8))
            err = fail(ps, "claim: a claim name, or a path of 1..8 names");
        path_pop(ps, m);
        if (err == KG_OK) {
            ps->p->rule_count++;
            is->rule_count++;
        }
    }
    path_pop(ps, n);
    return err;
}

/* What the issuer's tokens must say about their audience and use, and where
 * their grants are. */
static enum kg_err issuer_claims(struct parse *ps, json_t *o, struct jwtv_issuer *is)
{
    enum kg_err err = issuer_audience(ps, o, is);
    if (err == KG_OK)
        err = member_string(ps, o, "tokenUse", 0, 16, &is->token_use);
    if (err == KG_OK && is->token_use && strcmp(is->token_use, "access") != 0 &&
        strcmp(is->token_use, "id") != 0)
        err = fail(ps, "tokenUse: access or id");
    if (err == KG_OK)
        err = member_string(ps, o, "grantsClaim", 0, 256, &is->grants_claim);
    if (err == KG_OK)
        err = member_string(ps, o, "scopePrefix", 0, 512, &is->scope_prefix);
    if (err == KG_OK)
        err = member_list(ps, o, "scopeClaims", 256, &is->scope_claims, &is->scope_claim_count);
    if (err == KG_OK)
        err = issuer_rules(ps, o, is);
    return err;
}

static enum kg_err one_issuer(struct parse *ps, json_t *o, size_t index, size_t total)
{
    static const char *const allowed[] = {
        "name",       "issuer",      "anyIssuer",   "discovery", "jwksUrl",
        "publicKeyFiles", "hs256SecretFile", "audience", "tokenUse", "grantsClaim",
        "scopePrefix", "scopeClaims", "rules", NULL};
    struct jwtv_issuer *is = &ps->p->issuers[index];
    if (!json_is_object(o))
        return fail(ps, "must be an object");
    enum kg_err err = only_members(ps, o, allowed);
    int any_issuer = 0;
    if (err == KG_OK)
        err = member_string(ps, o, "name", 1, 32, &is->name);
    if (err == KG_OK && !name_ok(is->name))
        err = fail(ps, "name: 1..32 of a-z 0-9 -");
    if (err == KG_OK)
        err = member_bool(ps, o, "anyIssuer", &any_issuer);
    if (err == KG_OK)
        err = member_string(ps, o, "issuer", !any_issuer, 1024, &is->issuer);
    if (err == KG_OK && any_issuer && (is->issuer || total > 1))
        err = fail(ps, "anyIssuer: only for a lone issuer without \"issuer\" (an IdP's keys may "
                       "sign for others too)");
    if (err == KG_OK && is->issuer && !*is->issuer)
        err = fail(ps, "issuer: must not be empty");
    if (err == KG_OK)
        err = issuer_keys(ps, o, is, index);
    if (err == KG_OK)
        err = issuer_claims(ps, o, is);
    return err;
}

static enum kg_err check_root(struct parse *ps, json_t *root)
{
    static const char *const allowed[] = {"version", "issuers", NULL};
    if (!json_is_object(root))
        return fail(ps, "must be an object {version: 1, issuers: [...]}");
    enum kg_err err = only_members(ps, root, allowed);
    if (err != KG_OK)
        return err;
    json_t *version = json_object_get(root, "version");
    if (!json_is_integer(version) || json_integer_value(version) != 1) {
        size_t n = path_push(ps, "version", 0);
        err = fail(ps, "must be 1");
        path_pop(ps, n);
        return err;
    }
    json_t *issuers = json_object_get(root, "issuers");
    size_t n = path_push(ps, "issuers", 0);
    if (!json_is_array(issuers) || json_array_size(issuers) == 0 ||
        json_array_size(issuers) > JWTV_MAX_ISSUERS)
        err = fail(ps, "must be a list of 1..%d issuers", JWTV_MAX_ISSUERS);
    size_t total = json_array_size(issuers);
    for (size_t i = 0; err == KG_OK && i < total; i++) {
        size_t m = path_push(ps, NULL, (long)i);
        err = one_issuer(ps, json_array_get(issuers, i), i, total);
        for (size_t k = 0; err == KG_OK && k < i; k++)
            if (strcmp(ps->p->issuers[k].name, ps->p->issuers[i].name) == 0 ||
                (ps->p->issuers[k].issuer && ps->p->issuers[i].issuer &&
                 strcmp(ps->p->issuers[k].issuer, ps->p->issuers[i].issuer) == 0))
                err = fail(ps, "the same name or issuer as issuers[%zu]", k);
        path_pop(ps, m);
        ps->p->count = i + 1;
    }
    path_pop(ps, n);
    return err;
}

enum kg_err policy_parse(const char *text, size_t len, const char *name, struct policy_file **out,
                         char *why, size_t why_len)
{
    *out = NULL;
    struct policy_file *p = kg_calloc(1, sizeof *p);
    struct parse ps = {.name = name, .why = why, .why_len = why_len, .p = p};
    enum kg_err err;
    p->root = parse_text(text, len, &ps, &err);
    if (err == KG_OK)
        err = check_root(&ps, p->root);
    if (err != KG_OK) {
        policy_file_free(p);
        return err;
    }
    *out = p;
    return KG_OK;
}

enum kg_err policy_file_load(const char *path, struct policy_file **out, char *why, size_t why_len)
{
    *out = NULL;
    struct kg_buf b;
    kg_buf_init(&b, POLICY_FILE_MAX);
    enum kg_err err = kg_file_read(path, &b);
    if (err != KG_OK) {
        snprintf(why, why_len, "%s: cannot read it: %s", path,
                 err == KG_ERR_PAYLOAD_TOO_LARGE ? "larger than 1 MiB" : strerror(errno));
        kg_buf_free(&b);
        return KG_ERR_BAD_REQUEST;
    }
    struct policy_file *p = NULL;
    err = policy_parse(b.data, b.len, path, &p, why, why_len);
    kg_buf_free(&b);
    struct parse ps = {.name = path, .why = why, .why_len = why_len, .p = p};
    for (size_t i = 0; err == KG_OK && i < p->count; i++)
        if (p->secret_files[i])
            err = issuer_secret_read(&ps, i);
    if (err != KG_OK) {
        policy_file_free(p);
        return err;
    }
    *out = p;
    return KG_OK;
}

const struct jwtv_issuer *policy_issuers(const struct policy_file *p, size_t *count)
{
    *count = p->count;
    return p->issuers;
}

const char *const *policy_named_files(const struct policy_file *p, size_t *count)
{
    *count = p->file_count;
    return p->files;
}

void policy_file_free(struct policy_file *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < JWTV_MAX_ISSUERS; i++)
        if (p->secrets[i]) {
            kg_wipe(p->secrets[i], p->secret_lens[i]);
            free(p->secrets[i]);
        }
    for (size_t i = 0; i < p->alloc_count; i++)
        free(p->allocs[i]);
    free(p->allocs);
    json_decref(p->root);
    free(p);
}
