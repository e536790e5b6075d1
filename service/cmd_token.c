/* `kvsgate token`: mint a development HS256 token with grants, for demos and
 * tests. Prints the token on stdout and nothing else. The secret comes from
 * the environment exactly as `kvsgate serve` reads it (config_hs256_secret),
 * so a minted token verifies against the running service. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authz.h"
#include "auth/token.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "service/cli.h"
#include "service/config.h"

#define TOKEN_MAX_TTL_S (30 * 24 * 3600)
#define TOKEN_MAX_PATTERNS 64
#define TOKEN_MAX_LEN 8192

static const char token_help[] =
    "Usage: kvsgate token --sub ID [--master P1,P2] [--viewer P1,P2] [--manage P1,P2]\n"
    "                     [--any-client-id] [--manage-any] [--ttl SECONDS] [--iss ISSUER]\n"
    "                     [--aud AUDIENCE]\n"
    "                     [--claim NAME]\n"
    "\n"
    "Prints one HS256 development JWT on stdout.\n"
    "  --sub            the subject (also the viewer client id, or its hash)\n"
    "  --master, --viewer, --manage\n"
    "                   comma-separated channel patterns: a name, a prefix ending in *,\n"
    "                   {sub} for the caller's client id, closed by '.' before a *\n"
    "                   (e.g. cam-*,user-{sub}.*)\n"
    "  --any-client-id  the viewer may use any client id\n"
    "  --manage-any     may delete or re-create channels other subjects own (manageAny)\n"
    "  --ttl            lifetime in seconds, 1..2592000 (default 3600)\n"
    "  --iss, --aud     iss and aud claims (match KVSGATE_JWT_ISSUER, KVSGATE_JWT_AUDIENCE)\n"
    "  --claim          name of the grants claim (default kvs; KVSGATE_JWT_GRANTS_CLAIM)\n"
    "Secret: KVSGATE_JWT_HS256_SECRET, or a file named by KVSGATE_JWT_HS256_SECRET_FILE\n"
    "(at least 32 bytes).\n";

struct pattern_list {
    char *storage;
    const char *items[TOKEN_MAX_PATTERNS];
    size_t count;
};

/* Splits a comma-separated list in place (empty items refused) and checks
 * each pattern. 0 with a message on stderr when it does not hold. */
static int split_patterns(const char *flag, const char *value, struct pattern_list *out)
{
    out->count = 0;
    out->storage = NULL;
    if (!value)
        return 1;
    out->storage = strdup(value);
    if (!out->storage) {
        cli_usage_error("token", flag, "out of memory");
        return 0;
    }
    char *p = out->storage;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        char *expanded = NULL;
        if (!*p || authz_pattern_expand(p, "x", &expanded) != KG_OK) {
            cli_usage_error("token", flag,
                            "each pattern must be a channel name or a prefix ending in * "
                            "([a-zA-Z0-9_.-] and {sub}, at most 256 bytes; before a *, "
                            "{sub} is followed by '.')");
            return 0;
        }
        free(expanded);
        if (out->count == TOKEN_MAX_PATTERNS) {
            cli_usage_error("token", flag, "at most 64 patterns");
            return 0;
        }
        out->items[out->count++] = p;
        if (!comma)
            return 1;
        p = comma + 1;
    }
}

static int nonempty_max(const char *s, size_t max) { return s && *s && strlen(s) <= max; }

enum { F_SUB, F_MASTER, F_VIEWER, F_MANAGE, F_ANY, F_MANAGE_ANY, F_TTL, F_ISS, F_AUD, F_CLAIM,
       F_COUNT };

/* The flags that are not patterns: 1 when they hold (*ttl set from --ttl),
 * else 0 after one line on stderr naming the flag. */
static int flags_check(const char *cmd, const struct cli_flag *flags, long long *ttl)
{
    const char *sub = flags[F_SUB].value;
    if (!sub) {
        cli_usage_error(cmd, "sub", "required");
        return 0;
    }
    if (!auth_sub_acceptable(sub, strlen(sub))) {
        cli_usage_error(cmd, "sub", "must be 1..1024 bytes without control characters");
        return 0;
    }
    if (flags[F_ANY].value && strcmp(flags[F_ANY].value, "true") != 0) {
        cli_usage_error(cmd, "any-client-id", "takes no value");
        return 0;
    }
    if (flags[F_MANAGE_ANY].value && strcmp(flags[F_MANAGE_ANY].value, "true") != 0) {
        cli_usage_error(cmd, "manage-any", "takes no value");
        return 0;
    }
    if (flags[F_TTL].value && !cli_parse_int(flags[F_TTL].value, 1, TOKEN_MAX_TTL_S, ttl)) {
        cli_usage_error(cmd, "ttl", "must be an integer from 1 to 2592000 (30 days)");
        return 0;
    }
    if (flags[F_ISS].value && !nonempty_max(flags[F_ISS].value, 1024)) {
        cli_usage_error(cmd, "iss", "must be 1..1024 bytes");
        return 0;
    }
    if (flags[F_AUD].value && !nonempty_max(flags[F_AUD].value, 1024)) {
        cli_usage_error(cmd, "aud", "must be 1..1024 bytes");
        return 0;
    }
    if (flags[F_CLAIM].value && !nonempty_max(flags[F_CLAIM].value, 256)) {
        cli_usage_error(cmd, "claim", "must be 1..256 bytes");
        return 0;
    }
    return 1;
}

int cmd_token(int argc, char **argv)
{
    const char *cmd = "token";
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(token_help, stdout);
        return KG_EXIT_OK;
    }
    struct cli_flag flags[F_COUNT] = {
        [F_SUB] = {"sub", NULL, 0},         [F_MASTER] = {"master", NULL, 0},
        [F_VIEWER] = {"viewer", NULL, 0},   [F_MANAGE] = {"manage", NULL, 0},
        [F_ANY] = {"any-client-id", NULL, 1}, [F_MANAGE_ANY] = {"manage-any", NULL, 1},
        [F_TTL] = {"ttl", NULL, 0},
        [F_ISS] = {"iss", NULL, 0},         [F_AUD] = {"aud", NULL, 0},
        [F_CLAIM] = {"claim", NULL, 0},
    };
    if (cli_flags_parse(cmd, argc - 1, argv + 1, flags, F_COUNT) != 0)
        return KG_EXIT_USAGE;

    int rc = KG_EXIT_USAGE;
    struct pattern_list master = {0}, viewer = {0}, manage = {0};
    struct kg_buf secret, token;
    kg_buf_init_secret(&secret, CONFIG_SECRET_MAX_LEN);
    kg_buf_init_secret(&token, TOKEN_MAX_LEN);

    long long ttl = 3600;
    if (!flags_check(cmd, flags, &ttl) ||
        !split_patterns("master", flags[F_MASTER].value, &master) ||
        !split_patterns("viewer", flags[F_VIEWER].value, &viewer) ||
        !split_patterns("manage", flags[F_MANAGE].value, &manage))
        goto cleanup;
    char why[512];
    if (config_hs256_secret(NULL, &secret, why, sizeof why) != KG_OK) {
        cli_usage_error(cmd, NULL, why);
        goto cleanup;
    }

    struct token_request req = {
        .sub = flags[F_SUB].value,
        .master = master.items,
        .master_count = master.count,
        .viewer = viewer.items,
        .viewer_count = viewer.count,
        .manage = manage.items,
        .manage_count = manage.count,
        .any_client_id = flags[F_ANY].value != NULL,
        .manage_any = flags[F_MANAGE_ANY].value != NULL,
        .issuer = flags[F_ISS].value,
        .audience = flags[F_AUD].value,
        .grants_claim = flags[F_CLAIM].value,
        .now_s = kg_now_s(),
        .ttl_s = ttl,
    };
    enum kg_err err =
        token_mint_hs256((const unsigned char *)secret.data, secret.len, &req, &token);
    if (err == KG_ERR_BAD_REQUEST) {
        cli_usage_error(cmd, NULL, "cannot mint: --sub, --iss and --aud must be UTF-8");
        goto cleanup;
    }
    if (err != KG_OK) {
        fprintf(stderr, "kvsgate token: cannot mint: %s\n", kg_err_title(err));
        rc = KG_EXIT_FAILURE;
        goto cleanup;
    }
    fwrite(token.data, 1, token.len, stdout);
    fputc('\n', stdout);
    rc = fflush(stdout) == 0 ? KG_EXIT_OK : KG_EXIT_FAILURE;

cleanup:
    free(master.storage);
    free(viewer.storage);
    free(manage.storage);
    kg_buf_free(&secret);
    kg_buf_free(&token);
    return rc;
}
