/* libFuzzer target: settings (service/config.c config_load) read from a fuzzed
 * environment.
 *
 * Input: lines NAME=VALUE (separated by '\n'); the fake getenv answers from
 * them (the first line for a name wins). A *_FILE variable is a secret file:
 * its value names one of three files this target writes once in a private
 * temporary folder ("a": a 40-byte secret with a newline, "b": empty, "c":
 * 70000 bytes, past the 64 KiB limit); any other value is a path that does not
 * exist, so the target never reads a real file or a device.
 *
 * Invariants: on success every integer setting lies within its documented
 * bounds, the region is set, a JWT key source or (alone) the policy file is
 * set, an HS256 secret has at least 32 bytes, TLS files come in pairs, lists hold non-empty items without
 * surrounding blanks; on failure at least one error line was written, each
 * starting with a setting's name (upper-case letters, digits, '_') and ':',
 * and the config is empty; a secret's value never appears in the error output.
 * Leaks are caught by ASan.
 */
#include "tests/fuzz/fuzz.h"

#include <unistd.h>

#include "core/log.h"
#include "service/config.h"

#define VARS_MAX 64

static struct {
    char *name;
    char *value;
} vars[VARS_MAX];
static size_t var_count;
static char tmpdir[64];

static const char *fake_getenv(const char *name)
{
    for (size_t i = 0; i < var_count; i++) {
        if (strcmp(vars[i].name, name) != 0)
            continue;
        size_t n = strlen(name);
        if (n > 5 && strcmp(name + n - 5, "_FILE") == 0) {
            /* Only the prepared files, or a path that cannot exist. */
            static __thread char path[128];
            const char *v = vars[i].value;
            if ((strcmp(v, "a") == 0 || strcmp(v, "b") == 0 || strcmp(v, "c") == 0))
                snprintf(path, sizeof path, "%s/%s", tmpdir, v);
            else if (v[0])
                snprintf(path, sizeof path, "%s/missing", tmpdir);
            else
                path[0] = '\0';
            return path;
        }
        return vars[i].value;
    }
    return NULL;
}

static void write_file(const char *name, const char *data, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n)
        abort();
    fclose(f);
}

static void setup(void)
{
    kg_log_set_level(KG_LOG_OFF);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kvsgate-fuzz-config-XXXXXX");
    if (!mkdtemp(tmpdir))
        abort();
    write_file("a", "0123456789012345678901234567890123456789\n", 41);
    write_file("b", "", 0);
    char *big = malloc(70000);
    memset(big, 's', 70000);
    write_file("c", big, 70000);
    free(big);
}

static void cleanup_files(void)
{
    static const char *const names[] = {"a", "b", "c"};
    char path[128];
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

static int name_char(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

static void check_list(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(items[i]);
        FUZZ_CHECK(l > 0);
        FUZZ_CHECK(items[i][0] != ' ' && items[i][0] != '\t');
        FUZZ_CHECK(items[i][l - 1] != ' ' && items[i][l - 1] != '\t');
        FUZZ_CHECK(!strchr(items[i], ','));
    }
}

static void check_config(const struct kg_config *c)
{
    FUZZ_CHECK(c->listen && c->region && c->log_level && c->ice_fallback && c->jwt_grants_claim);
    FUZZ_CHECK(c->http_threads >= 0 && c->http_threads <= 256);
    FUZZ_CHECK(c->max_connections >= 1 && c->max_connections <= 100000);
    FUZZ_CHECK(c->connection_timeout_s >= 1 && c->connection_timeout_s <= 3600);
    FUZZ_CHECK(c->max_body_bytes >= 256 && c->max_body_bytes <= 1048576);
    FUZZ_CHECK(c->max_header_bytes >= 8192 && c->max_header_bytes <= 1048576);
    FUZZ_CHECK(c->request_deadline_ms >= 100 && c->request_deadline_ms <= 60000);
    FUZZ_CHECK(c->upstream_workers >= 1 && c->upstream_workers <= 1024);
    FUZZ_CHECK(c->presign_expires_s >= 1 && c->presign_expires_s <= 299);
    FUZZ_CHECK(c->jwt_leeway_s >= 0 && c->jwt_leeway_s <= 300);
    FUZZ_CHECK(c->jwt_max_bytes >= 512 && c->jwt_max_bytes <= 65536);
    FUZZ_CHECK(c->aws_max_attempts >= 1 && c->aws_max_attempts <= 10);
    if (c->policy_file)
        FUZZ_CHECK(!c->jwt_hs256_secret && !c->jwt_public_key_file_count && !c->jwks_url &&
                   !c->jwt_issuer && !c->jwt_audience);
    else
        FUZZ_CHECK(c->jwt_hs256_secret || c->jwt_public_key_file_count || c->jwks_url);
    FUZZ_CHECK(!c->jwt_hs256_secret || strlen(c->jwt_hs256_secret) >= 32);
    FUZZ_CHECK(!c->tls_cert_file == !c->tls_key_file);
    FUZZ_CHECK(strcmp(c->ice_fallback, "stun-only") == 0 || strcmp(c->ice_fallback, "fail") == 0);
    check_list(c->cors_origins, c->cors_origin_count);
    check_list(c->jwt_public_key_files, c->jwt_public_key_file_count);
}

static void check_errors(const char *out, size_t n)
{
    FUZZ_CHECK(n > 0 && out[n - 1] == '\n');
    const char *line = out;
    while (line < out + n) {
        const char *p = line;
        while (name_char(*p))
            p++;
        FUZZ_CHECK(p > line && *p == ':');
        const char *nl = memchr(line, '\n', (size_t)(out + n - line));
        FUZZ_CHECK(nl);
        line = nl + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        setup();
        atexit(cleanup_files);
        init = 1;
    }
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    var_count = 0;
    for (char *line = text; line && *line && var_count < VARS_MAX;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = '\0';
            vars[var_count].name = line;
            vars[var_count].value = eq + 1;
            var_count++;
        }
        line = nl ? nl + 1 : NULL;
    }

    char *errs = NULL;
    size_t errs_len = 0;
    FILE *err_out = open_memstream(&errs, &errs_len);
    if (!err_out)
        abort();
    struct kg_config cfg;
    enum kg_err err = config_load(&cfg, fake_getenv, err_out);
    fclose(err_out);
    /* A secret's value never reaches an error line. Error lines are made of
     * fixed text, names and non-secret values, so a secret is recognised by a
     * byte 0x01 that no other variable holds. */
    for (size_t i = 0; i < var_count; i++) {
        if ((strcmp(vars[i].name, "KVSGATE_JWT_HS256_SECRET") != 0 &&
             strcmp(vars[i].name, "KVSGATE_ASSUME_ROLE_EXTERNAL_ID") != 0) ||
            !strchr(vars[i].value, '\x01'))
            continue;
        int unique = 1;
        for (size_t k = 0; k < var_count; k++)
            if (k != i && (strchr(vars[k].value, '\x01') || strchr(vars[k].name, '\x01')))
                unique = 0;
        if (unique)
            FUZZ_CHECK(!memchr(errs, '\x01', errs_len));
    }
    if (err == KG_OK) {
        check_config(&cfg);
        config_cleanup(&cfg);
    } else {
        FUZZ_CHECK(err == KG_ERR_BAD_REQUEST);
        check_errors(errs, errs_len);
        FUZZ_CHECK(!cfg.listen && !cfg.region && !cfg.jwt_hs256_secret && !cfg.cors_origins);
    }
    free(errs);
    free(text);
    return 0;
}
