/* auth/authz: the viewer client-id rule (no viewer can take another's seat),
 * channel patterns and permission checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authz.h"
#include "core/crypto.h"
#include "core/mem.h"
#include "testlib.h"

static void derive(const char *sub, char *out) { auth_derive_client_id(sub, out); }

/* "_" + first 40 hex digits of SHA-256(sub), computed here independently. */
static void hashed(const char *sub, char *out)
{
    char hex[65];
    kg_sha256_hex(sub, strlen(sub), hex);
    out[0] = '_';
    memcpy(out + 1, hex, 40);
    out[41] = '\0';
}

static void test_a_plain_sub_is_its_own_client_id_anything_else_is_hashed(void)
{
    char long128[129], long129[130];
    memset(long128, 'a', 128);
    long128[128] = '\0';
    memset(long129, 'a', 129);
    long129[129] = '\0';
    const char *own[] = {"alice", "Alice-01", "a", "0", "-", "user_1", "a_b-c", long128,
                         "AWS", "AWSx", "aws-x", "xAWS_"};
    const char *hash[] = {"", "alice.x", "alice.bob", ".", "_", "_alice", "AWS_x", "aws_x",
                          "Aws_", "a b", "a/b", "a@b.c", "auth0|12345", "\xc3\xa9t\xc3\xa9",
                          "a\tb", "a*", long129, "alice\n"};
    char got[AUTH_CLIENT_ID_MAX + 1], want[64];
    for (size_t i = 0; i < T_COUNT(own); i++) {
        derive(own[i], got);
        T_STREQ(got, own[i]);
    }
    for (size_t i = 0; i < T_COUNT(hash); i++) {
        derive(hash[i], got);
        hashed(hash[i], want);
        T_STREQ(got, want);
        T_INTEQ(strlen(got), 41);
        T_CHECK(strchr(got, '.') == NULL);
    }
    derive(NULL, got);
    hashed("", want);
    T_STREQ(got, want);
}

static void test_a_sub_crafted_as_another_users_hash_is_hashed_itself(void)
{
    /* Bob's hashed id is "_<hash>"; a subject literally named that cannot own it. */
    char bob_id[AUTH_CLIENT_ID_MAX + 1], mallory_id[AUTH_CLIENT_ID_MAX + 1];
    derive("bob@example.com", bob_id);
    T_CHECK(bob_id[0] == '_');
    derive(bob_id, mallory_id);
    T_CHECK(strcmp(mallory_id, bob_id) != 0);
    T_CHECK(mallory_id[0] == '_');
    /* And a sub made to look like alice's suffixed id gets a hash, not "alice.x". */
    derive("alice.x", mallory_id);
    T_CHECK(strcmp(mallory_id, "alice.x") != 0);
}

static struct auth_principal principal(const char *sub, int any)
{
    struct auth_principal p;
    memset(&p, 0, sizeof p);
    p.sub = kg_strdup(sub);
    auth_derive_client_id(sub, p.client_id);
    p.grants.any_client_id = any;
    return p;
}

struct id_case {
    const char *sub;
    int any;
    const char *requested; /* NULL: none */
    enum kg_err want;
    const char *want_id; /* on KG_OK; NULL: same as requested */
};

static void run_id_cases(const struct id_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct auth_principal p = principal(cases[i].sub, cases[i].any);
        char out[AUTH_CLIENT_ID_MAX + 1];
        enum kg_err err = authz_viewer_client_id(&p, cases[i].requested, out);
        if (err != cases[i].want)
            t_fail(__FILE__, __LINE__, "sub %s asks %s: %s, want %s", cases[i].sub,
                   cases[i].requested ? cases[i].requested : "(none)", kg_err_name(err),
                   kg_err_name(cases[i].want));
        else if (err == KG_OK)
            T_STREQ(out, cases[i].want_id ? cases[i].want_id : cases[i].requested);
        else
            T_STREQ(out, "");
        auth_principal_cleanup(&p);
    }
}

static void test_no_viewer_can_take_another_viewers_seat(void)
{
    static const struct id_case cases[] = {
        {"alice", 0, NULL, KG_OK, "alice"},
        {"alice", 0, "alice", KG_OK, NULL},
        {"alice", 0, "alice.bob", KG_OK, NULL}, /* her own namespace */
        {"alice", 0, "alice.phone", KG_OK, NULL},
        {"alice", 0, "alice.a.b-c_d", KG_OK, NULL},
        {"alice", 0, "alice..x", KG_OK, NULL},
        {"bob", 0, "alice", KG_ERR_FORBIDDEN, NULL},
        {"bob", 0, "alice.x", KG_ERR_FORBIDDEN, NULL},
        {"bob", 0, "bob2", KG_ERR_FORBIDDEN, NULL},
        {"bob", 0, "bo", KG_ERR_FORBIDDEN, NULL},
        {"bob", 0, "bobby.x", KG_ERR_FORBIDDEN, NULL},
        {"bob", 0, "bob.", KG_ERR_FORBIDDEN, NULL},
        {"bob", 0, "Bob", KG_ERR_FORBIDDEN, NULL},
        {"bob", 0, "bob-x", KG_ERR_FORBIDDEN, NULL},
        {"bob", 0, "bob_x", KG_ERR_FORBIDDEN, NULL},
        {"bob", 0, ".bob", KG_ERR_FORBIDDEN, NULL},
        /* The sub "alice.x" is hashed, so it cannot claim alice's namespace. */
        {"alice.x", 0, "alice.x", KG_ERR_FORBIDDEN, NULL},
        {"alice.x", 0, "alice", KG_ERR_FORBIDDEN, NULL},
        /* Not valid KVS client ids. */
        {"bob", 0, "", KG_ERR_INVALID_CLIENT_ID, NULL},
        {"bob", 0, "bob x", KG_ERR_INVALID_CLIENT_ID, NULL},
        {"bob", 0, "bob.x/y", KG_ERR_INVALID_CLIENT_ID, NULL},
        {"bob", 0, "bob.\xc3\xa9", KG_ERR_INVALID_CLIENT_ID, NULL},
        {"bob", 0, "AWS_x", KG_ERR_INVALID_CLIENT_ID, NULL},
        {"bob", 0, "aws_x", KG_ERR_INVALID_CLIENT_ID, NULL},
        /* anyClientId: any valid id, never an AWS_ one. */
        {"ops", 1, "alice", KG_OK, NULL},
        {"ops", 1, "display-7.wall", KG_OK, NULL},
        {"ops", 1, NULL, KG_OK, "ops"},
        {"ops", 1, "AWS_anything", KG_ERR_INVALID_CLIENT_ID, NULL},
        {"ops", 1, "a b", KG_ERR_INVALID_CLIENT_ID, NULL},
    };
    run_id_cases(cases, T_COUNT(cases));
}

static void test_suffix_and_id_lengths_are_bounded(void)
{
    char id[400];
    struct auth_principal p = principal("alice", 0), any = principal("ops", 1);
    char out[AUTH_CLIENT_ID_MAX + 1];
    /* Suffix of 64 is fine, 65 is not. */
    memcpy(id, "alice.", 6);
    memset(id + 6, 's', 64);
    id[70] = '\0';
    T_INTEQ(authz_viewer_client_id(&p, id, out), KG_OK);
    id[70] = 's';
    id[71] = '\0';
    T_INTEQ(authz_viewer_client_id(&p, id, out), KG_ERR_FORBIDDEN);
    /* KVS's limit of 256 applies to anyClientId. */
    memset(id, 'x', 256);
    id[256] = '\0';
    T_INTEQ(authz_viewer_client_id(&any, id, out), KG_OK);
    T_INTEQ(strlen(out), 256);
    id[256] = 'x';
    id[257] = '\0';
    T_INTEQ(authz_viewer_client_id(&any, id, out), KG_ERR_INVALID_CLIENT_ID);
    auth_principal_cleanup(&p);
    auth_principal_cleanup(&any);
}

static void test_a_hashed_viewer_may_use_its_own_hash_and_suffixes_only(void)
{
    char bob[AUTH_CLIENT_ID_MAX + 1], carol[AUTH_CLIENT_ID_MAX + 1], req[AUTH_CLIENT_ID_MAX + 16];
    derive("bob@example.com", bob);
    derive("carol@example.com", carol);
    struct auth_principal p = principal("bob@example.com", 0);
    char out[AUTH_CLIENT_ID_MAX + 1];
    T_INTEQ(authz_viewer_client_id(&p, NULL, out), KG_OK);
    T_STREQ(out, bob);
    snprintf(req, sizeof req, "%s.tablet", bob);
    T_INTEQ(authz_viewer_client_id(&p, req, out), KG_OK);
    T_STREQ(out, req);
    T_INTEQ(authz_viewer_client_id(&p, carol, out), KG_ERR_FORBIDDEN);
    snprintf(req, sizeof req, "%s.tablet", carol);
    T_INTEQ(authz_viewer_client_id(&p, req, out), KG_ERR_FORBIDDEN);
    /* The raw sub is not an id it may use. */
    T_INTEQ(authz_viewer_client_id(&p, "bob", out), KG_ERR_FORBIDDEN);
    auth_principal_cleanup(&p);
    T_INTEQ(authz_viewer_client_id(NULL, NULL, out), KG_ERR_FORBIDDEN);
}

static void test_patterns_expand_sub_and_must_be_names_or_prefixes(void)
{
    char n256[300], n257[300], p255[300], p256[300];
    memset(n256, 'n', 256);
    n256[256] = '\0';
    memset(n257, 'n', 257);
    n257[257] = '\0';
    memset(p255, 'p', 255);
    memcpy(p255 + 255, "*", 2);
    memset(p256, 'p', 256);
    memcpy(p256 + 256, "*", 2);
    struct {
        const char *pattern, *client_id, *want; /* want NULL: refused */
    } cases[] = {
        {"lobby", "alice", "lobby"},
        {"cam-*", "alice", "cam-*"},
        {"*", "alice", "*"},
        {"user-{sub}.*", "alice", "user-alice.*"},
        {"user-{sub}.cam-*", "alice", "user-alice.cam-*"},
        {"user-{sub}-cam", "alice", "user-alice-cam"}, /* exact: one name per subject */
        {"{sub}.*", "_0123456789abcdef0123456789abcdef01234567", "_0123456789abcdef0123456789abcdef01234567.*"},
        {"{sub}", "alice", "alice"},
        {"{sub}.{sub}", "a", "a.a"},
        {"a.b_c-D9", "x", "a.b_c-D9"},
        {n256, "x", n256},
        {p255, "x", p255},
        {"user-{sub}", "_0123456789abcdef0123456789abcdef01234567", "user-_0123456789abcdef0123456789abcdef01234567"},
        {"", "alice", NULL},
        {n257, "x", NULL},
        {p256, "x", NULL},
        {"**", "alice", NULL},
        {"a*b", "alice", NULL},
        {"*a", "alice", NULL},
        {"a b", "alice", NULL},
        {"a/b", "alice", NULL},
        {"cam?", "alice", NULL},
        {"{sub", "alice", NULL},
        {"{SUB}", "alice", NULL},
        {"{user}", "alice", NULL},
        {"{sub}", "", NULL},
        {"{sub}", NULL, NULL},
        {"{sub}", "a*", NULL},
        {"{sub}", "a b", NULL},
        {"\xc3\xa9", "alice", NULL},
        /* The {sub} boundary: with a '*', every {sub} is closed by '.'. */
        {"user-{sub}-*", "alice", NULL},
        {"user-{sub}*", "alice", NULL},
        {"{sub}*", "alice", NULL},
        {"{sub}_*", "alice", NULL},
        {"{sub}.{sub}*", "alice", NULL},
        {"{sub}.*", "a.b", NULL}, /* not a derived id: '.' would not close it */
    };
    for (size_t i = 0; i < T_COUNT(cases); i++) {
        char *out = NULL;
        enum kg_err err = authz_pattern_expand(cases[i].pattern, cases[i].client_id, &out);
        if (cases[i].want) {
            if (err != KG_OK)
                t_fail(__FILE__, __LINE__, "%s refused", cases[i].pattern);
            else
                T_STREQ(out, cases[i].want);
        } else if (err != KG_ERR_BAD_REQUEST || out) {
            t_fail(__FILE__, __LINE__, "%s accepted", cases[i].pattern);
        }
        free(out);
    }
    char *out = NULL;
    T_INTEQ(authz_pattern_expand(NULL, "a", &out), KG_ERR_BAD_REQUEST);
}

static void add(struct auth_principal *p, enum authz_perm perm, const char *pattern)
{
    size_t n = p->grants.counts[perm];
    p->grants.patterns[perm] = kg_realloc(p->grants.patterns[perm], (n + 1) * sizeof(char *));
    p->grants.patterns[perm][n] = kg_strdup(pattern);
    p->grants.counts[perm] = n + 1;
}

static void test_permissions_match_exact_names_and_prefixes_per_role(void)
{
    struct auth_principal p = principal("alice", 0);
    add(&p, AUTHZ_PERM_VIEWER, "cam-*");
    add(&p, AUTHZ_PERM_VIEWER, "lobby");
    add(&p, AUTHZ_PERM_MASTER, "user-alice-*"); /* given as it is: the issuer's words */
    add(&p, AUTHZ_PERM_MANAGE, "user-alice-home");
    struct {
        enum authz_perm perm;
        const char *channel;
        int want;
    } cases[] = {
        {AUTHZ_PERM_VIEWER, "cam-1", 1},     {AUTHZ_PERM_VIEWER, "cam-", 1},
        {AUTHZ_PERM_VIEWER, "cam", 0},       {AUTHZ_PERM_VIEWER, "CAM-1", 0},
        {AUTHZ_PERM_VIEWER, "xcam-1", 0},    {AUTHZ_PERM_VIEWER, "lobby", 1},
        {AUTHZ_PERM_VIEWER, "lobby2", 0},    {AUTHZ_PERM_VIEWER, "lobb", 0},
        {AUTHZ_PERM_VIEWER, "", 0},          {AUTHZ_PERM_MASTER, "cam-1", 0},
        {AUTHZ_PERM_MASTER, "user-alice-1", 1}, {AUTHZ_PERM_MASTER, "user-alic", 0},
        {AUTHZ_PERM_MANAGE, "user-alice-home", 1}, {AUTHZ_PERM_MANAGE, "user-alice-home2", 0},
        {AUTHZ_PERM_MANAGE, "cam-1", 0},     {(enum authz_perm)7, "cam-1", 0},
        {(enum authz_perm)-1, "cam-1", 0},
    };
    for (size_t i = 0; i < T_COUNT(cases); i++)
        if (authz_allows(&p, cases[i].perm, cases[i].channel) != cases[i].want)
            t_fail(__FILE__, __LINE__, "perm %d on \"%s\": want %d", (int)cases[i].perm,
                   cases[i].channel, cases[i].want);
    T_CHECK(!authz_allows(&p, AUTHZ_PERM_VIEWER, NULL));
    T_CHECK(!authz_allows(NULL, AUTHZ_PERM_VIEWER, "cam-1"));
    /* Describe: any role on the channel. */
    T_CHECK(authz_can_describe(&p, "cam-9"));
    T_CHECK(authz_can_describe(&p, "user-alice-x"));
    T_CHECK(authz_can_describe(&p, "user-alice-home"));
    T_CHECK(!authz_can_describe(&p, "other"));
    /* "*" grants every channel of that role, and only that role. */
    add(&p, AUTHZ_PERM_MANAGE, "*");
    T_CHECK(authz_allows(&p, AUTHZ_PERM_MANAGE, "anything"));
    T_CHECK(!authz_allows(&p, AUTHZ_PERM_MASTER, "anything"));
    auth_principal_cleanup(&p);
    /* No grants: nothing. */
    struct auth_principal none = principal("bob", 0);
    T_CHECK(!authz_can_describe(&none, "cam-1"));
    auth_principal_cleanup(&none);
}

/* ---- property: a {sub} grant never reaches another subject's names ---------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* A sub from hostile alphabets: pieces that derived ids keep (letters, '-',
 * '_'), that force hashing ('.', '*', '{', '}', '@', '|', UTF-8, AWS_), and
 * prefixes of one another ("bob", "bob-smith"). */
static void random_sub(char *out, size_t cap)
{
    static const char *const pieces[] = {"bob", "b", "-", "_", "smith", ".", "*", "{", "}",
                                         "{sub}", "@", "|", "AWS_", "aws", "\xc3\xa9", "0", "x",
                                         "ob", "-smith", "_0123456789abcdef"};
    size_t n = 0, count = 1 + rnd(4);
    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        const char *p = pieces[rnd(T_COUNT(pieces))];
        size_t l = strlen(p);
        if (n + l + 1 > cap)
            break;
        memcpy(out + n, p, l + 1);
        n += l;
    }
    if (!n)
        memcpy(out, "b", 2);
}

/* A pattern around {sub}: literal pieces of name characters before and after,
 * and a trailing '*' half the time (the boundary rule decides what is kept). */
static void random_pattern(char *out, size_t cap)
{
    static const char *const lits[] = {"user", "-", "_", ".", "cam", "a", "bob", "x.", "-cam",
                                       ".cam-", "smith"};
    size_t n = 0;
    int subs = 1 + (rnd(4) == 0);
    for (int k = 0; k < 3 + subs; k++) {
        const char *p = (k == 1 || (subs == 2 && k == 3)) ? "{sub}" : lits[rnd(T_COUNT(lits))];
        if (rnd(3) == 0 && k != 1)
            continue;
        size_t l = strlen(p);
        if (n + l + 2 > cap)
            break;
        memcpy(out + n, p, l + 1);
        n += l;
    }
    if (rnd(2))
        memcpy(out + n, "*", 2);
}

/* A name built from an expansion: the name itself, or the prefix and a tail
 * of name characters (for a star pattern). */
static void name_from(const char *expansion, char *out, size_t cap)
{
    static const char tail[] = "ab-_.9Z";
    size_t n = strlen(expansion);
    int star = n && expansion[n - 1] == '*';
    if (star)
        n--;
    memcpy(out, expansion, n);
    size_t extra = star ? rnd(6) : 0;
    for (size_t i = 0; i < extra && n + 1 < cap; i++)
        out[n++] = tail[rnd(sizeof tail - 1)];
    out[n] = '\0';
}

static void test_property_sub_grants_never_reach_another_subjects_names(void)
{
    size_t checked = 0, refused = 0;
    for (int round = 0; round < 20000; round++) {
        char sub1[96], sub2[96], pattern[96], id1[AUTH_CLIENT_ID_MAX + 1], id2[AUTH_CLIENT_ID_MAX + 1];
        random_sub(sub1, sizeof sub1);
        random_sub(sub2, sizeof sub2);
        if (round % 4 == 0) { /* one sub the start of the other, as bob and bob-smith */
            size_t l = strlen(sub1) < 80 ? strlen(sub1) : 80;
            memcpy(sub2, sub1, l);
            const char *tail = round % 8 ? "-smith" : "_x";
            memcpy(sub2 + l, tail, strlen(tail) + 1);
        }
        random_pattern(pattern, sizeof pattern);
        auth_derive_client_id(sub1, id1);
        auth_derive_client_id(sub2, id2);
        if (strcmp(id1, id2) == 0)
            continue; /* one subject (only the same sub derives the same id) */
        char *e1 = NULL, *e2 = NULL;
        enum kg_err r1 = authz_pattern_expand(pattern, id1, &e1);
        enum kg_err r2 = authz_pattern_expand(pattern, id2, &e2);
        /* Whether a pattern is kept does not depend on who holds it. */
        if ((r1 == KG_OK) != (r2 == KG_OK))
            t_fail(__FILE__, __LINE__, "%s kept for %s xor %s", pattern, sub1, sub2);
        if (r1 != KG_OK || r2 != KG_OK) {
            refused++;
            free(e1);
            free(e2);
            continue;
        }
        struct auth_principal p1 = principal(sub1, 0), p2 = principal(sub2, 0);
        add(&p1, AUTHZ_PERM_MANAGE, e1);
        add(&p2, AUTHZ_PERM_MANAGE, e2);
        for (int k = 0; k < 8; k++) {
            char name[300];
            name_from(e2, name, sizeof name);
            if (!name[0] || strlen(name) > 256)
                continue;
            T_CHECK(authz_allows(&p2, AUTHZ_PERM_MANAGE, name)); /* bob reaches his own */
            if (authz_allows(&p1, AUTHZ_PERM_MANAGE, name))
                t_fail(__FILE__, __LINE__, "%s: %s's grant %s reaches %s's name %s", pattern,
                       sub1, e1, sub2, name);
            checked++;
        }
        auth_principal_cleanup(&p1);
        auth_principal_cleanup(&p2);
        free(e1);
        free(e2);
    }
    /* The generator must exercise both sides of the boundary rule. */
    T_CHECK(checked > 20000);
    T_CHECK(refused > 1000);
    printf("  %zu names checked, %zu patterns refused by the boundary rule\n", checked, refused);
}

static const struct t_case cases[] = {
    T_CASE(test_a_plain_sub_is_its_own_client_id_anything_else_is_hashed),
    T_CASE(test_a_sub_crafted_as_another_users_hash_is_hashed_itself),
    T_CASE(test_no_viewer_can_take_another_viewers_seat),
    T_CASE(test_suffix_and_id_lengths_are_bounded),
    T_CASE(test_a_hashed_viewer_may_use_its_own_hash_and_suffixes_only),
    T_CASE(test_patterns_expand_sub_and_must_be_names_or_prefixes),
    T_CASE(test_permissions_match_exact_names_and_prefixes_per_role),
    T_CASE(test_property_sub_grants_never_reach_another_subjects_names),
};

int main(int argc, char **argv) { return t_main(cases, T_COUNT(cases), argc, argv); }
