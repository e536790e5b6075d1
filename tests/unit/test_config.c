/* service/config: defaults, bounds, _FILE secrets, errors that name their variable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "service/config.h"
#include "testlib.h"

#define MAX_VARS 32
static const char *vars[MAX_VARS][2];
static size_t var_count;

static void env_clear(void) { var_count = 0; }
static void env_set(const char *name, const char *value)
{
    vars[var_count][0] = name;
    vars[var_count][1] = value;
    var_count++;
}
static const char *env_get(const char *name)
{
    for (size_t i = 0; i < var_count; i++)
        if (strcmp(vars[i][0], name) == 0)
            return vars[i][1];
    return NULL;
}

static const char *SECRET = "0123456789abcdef0123456789abcdef";

/* Loads with the fake environment; returns the error text (static). */
static const char *load(struct kg_config *cfg, enum kg_err *err)
{
    static char text[4096];
    FILE *f = fmemopen(text, sizeof text, "w");
    *err = config_load(cfg, env_get, f);
    fclose(f);
    return text;
}

static void test_the_hs256_secret_comes_from_the_variable_or_the_file(void)
{
    struct kg_buf s;
    kg_buf_init_secret(&s, CONFIG_SECRET_MAX_LEN);
    char why[512];
    env_clear();
    T_INTEQ(config_hs256_secret(env_get, &s, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_CHECK(strstr(why, "KVSGATE_JWT_HS256_SECRET: not set") == why);

    env_set("KVSGATE_JWT_HS256_SECRET", "0123456789abcdef0123456789abcde"); /* 31 */
    T_INTEQ(config_hs256_secret(env_get, &s, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_STREQ(why, "KVSGATE_JWT_HS256_SECRET: must be at least 32 bytes");
    T_INTEQ(s.len, 0);
    env_clear();
    env_set("KVSGATE_JWT_HS256_SECRET", "0123456789abcdef0123456789abcdef");
    T_INTEQ(config_hs256_secret(env_get, &s, why, sizeof why), KG_OK);
    T_STREQ(s.data, "0123456789abcdef0123456789abcdef");

    /* A file: one trailing newline (or CRLF) is not part of the secret. */
    char *path = t_temp_file("file-secret-file-secret-file-secret\n\n");
    env_set("KVSGATE_JWT_HS256_SECRET_FILE", path);
    T_INTEQ(config_hs256_secret(env_get, &s, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_CHECK(strstr(why, "set only one") != NULL);
    env_clear();
    env_set("KVSGATE_JWT_HS256_SECRET_FILE", path);
    T_INTEQ(config_hs256_secret(env_get, &s, why, sizeof why), KG_OK);
    T_STREQ(s.data, "file-secret-file-secret-file-secret\n");
    unlink(path);
    free(path);
    path = t_temp_file("file-secret-file-secret-file-secret\r\n");
    env_clear();
    env_set("KVSGATE_JWT_HS256_SECRET_FILE", path);
    T_INTEQ(config_hs256_secret(env_get, &s, why, sizeof why), KG_OK);
    T_STREQ(s.data, "file-secret-file-secret-file-secret");
    unlink(path);
    free(path);
    path = t_temp_file("short\n");
    env_clear();
    env_set("KVSGATE_JWT_HS256_SECRET_FILE", path);
    T_INTEQ(config_hs256_secret(env_get, &s, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_STREQ(why, "KVSGATE_JWT_HS256_SECRET_FILE: must be at least 32 bytes");
    unlink(path);
    T_INTEQ(config_hs256_secret(env_get, &s, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_CHECK(strstr(why, "KVSGATE_JWT_HS256_SECRET_FILE: cannot read /tmp/") == why);
    T_CHECK(strstr(why, "No such file") != NULL);
    free(path);
    env_clear();
    kg_buf_free(&s);
}

static void test_minimal_settings_load_with_defaults(void)
{
    env_clear();
    env_set("AWS_REGION", "us-west-2");
    env_set("KVSGATE_JWT_HS256_SECRET", SECRET);
    struct kg_config cfg;
    enum kg_err err;
    const char *text = load(&cfg, &err);
    T_INTEQ(err, KG_OK);
    T_STREQ(text, "");
    T_STREQ(cfg.listen, "0.0.0.0:8080");
    T_INTEQ(cfg.presign_expires_s, 299);
    T_INTEQ(cfg.jwt_leeway_s, 60);
    T_STREQ(cfg.jwt_grants_claim, "kvs");
    T_INTEQ(cfg.access_log, 1);
    T_INTEQ(cfg.cors_origin_count, 0);
    T_STREQ(cfg.jwt_hs256_secret, SECRET);
    config_cleanup(&cfg);
}

static void test_aws_default_region_is_a_fallback(void)
{
    env_clear();
    env_set("AWS_DEFAULT_REGION", "eu-central-1");
    env_set("KVSGATE_JWT_HS256_SECRET", SECRET);
    struct kg_config cfg;
    enum kg_err err;
    load(&cfg, &err);
    T_INTEQ(err, KG_OK);
    T_STREQ(cfg.region, "eu-central-1");
    config_cleanup(&cfg);
}

static void test_every_error_names_its_variable(void)
{
    env_clear();
    env_set("KVSGATE_PRESIGN_EXPIRES_S", "300");
    env_set("KVSGATE_JWT_LEEWAY_S", "abc");
    env_set("KVSGATE_ACCESS_LOG", "maybe");
    env_set("KVSGATE_LOG_LEVEL", "loud");
    env_set("KVSGATE_CORS_ORIGINS", "https://ok.example, https://bad.example/path");
    env_set("KVSGATE_JWKS_URL", "ftp://x");
    env_set("KVSGATE_TLS_CERT_FILE", "/tmp/cert.pem");
    struct kg_config cfg;
    enum kg_err err;
    const char *text = load(&cfg, &err);
    T_INTEQ(err, KG_ERR_BAD_REQUEST);
    static const char *const expected[] = {
        "KVSGATE_PRESIGN_EXPIRES_S: must be an integer from 1 to 299",
        "KVSGATE_JWT_LEEWAY_S: must be an integer from 0 to 300",
        "KVSGATE_ACCESS_LOG: must be true or false",
        "KVSGATE_LOG_LEVEL: must be one of",
        "KVSGATE_CORS_ORIGINS: 'https://bad.example/path'",
        "KVSGATE_JWKS_URL: must be an http:// or https:// URL",
        "KVSGATE_TLS_KEY_FILE: set KVSGATE_TLS_CERT_FILE and KVSGATE_TLS_KEY_FILE together",
        "AWS_REGION: required",
    };
    for (size_t i = 0; i < T_COUNT(expected); i++)
        if (!strstr(text, expected[i]))
            t_fail(__FILE__, __LINE__, "missing error '%s' in:\n%s", expected[i], text);
    /* Each line starts with a variable name. */
    for (const char *line = text; *line;) {
        T_CHECK(strncmp(line, "KVSGATE_", 8) == 0 || strncmp(line, "AWS_", 4) == 0);
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
}

static void test_secrets_come_from_files_and_never_both(void)
{
    char path[] = "/tmp/kvsgate-secret-XXXXXX";
    int fd = mkstemp(path);
    T_CHECK(fd >= 0);
    T_CHECK(write(fd, SECRET, strlen(SECRET)) == (ssize_t)strlen(SECRET));
    T_CHECK(write(fd, "\n", 1) == 1);
    close(fd);
    env_clear();
    env_set("AWS_REGION", "us-west-2");
    env_set("KVSGATE_JWT_HS256_SECRET_FILE", path);
    struct kg_config cfg;
    enum kg_err err;
    load(&cfg, &err);
    T_INTEQ(err, KG_OK);
    T_STREQ(cfg.jwt_hs256_secret, SECRET); /* trailing newline dropped */
    config_cleanup(&cfg);

    env_set("KVSGATE_JWT_HS256_SECRET", SECRET);
    const char *text = load(&cfg, &err);
    T_INTEQ(err, KG_ERR_BAD_REQUEST);
    T_CHECK(strstr(text, "KVSGATE_JWT_HS256_SECRET: set only one of it and KVSGATE_JWT_HS256_SECRET_FILE") != NULL);
    T_CHECK(strstr(text, SECRET) == NULL); /* the secret is never echoed */

    env_clear();
    env_set("AWS_REGION", "us-west-2");
    env_set("KVSGATE_JWT_HS256_SECRET_FILE", "/nonexistent/secret");
    text = load(&cfg, &err);
    T_INTEQ(err, KG_ERR_BAD_REQUEST);
    T_CHECK(strstr(text, "KVSGATE_JWT_HS256_SECRET_FILE: cannot read /nonexistent/secret") != NULL);
    unlink(path);
}

static void test_a_short_secret_or_no_key_is_refused(void)
{
    env_clear();
    env_set("AWS_REGION", "us-west-2");
    struct kg_config cfg;
    enum kg_err err;
    const char *text = load(&cfg, &err);
    T_INTEQ(err, KG_ERR_BAD_REQUEST);
    T_CHECK(strstr(text, "KVSGATE_JWT_HS256_SECRET: no JWT key configured") != NULL);
    env_set("KVSGATE_JWT_HS256_SECRET", "short");
    text = load(&cfg, &err);
    T_INTEQ(err, KG_ERR_BAD_REQUEST);
    T_CHECK(strstr(text, "KVSGATE_JWT_HS256_SECRET: must be at least 32 bytes") != NULL);
    T_CHECK(strstr(text, "short") == NULL);
}

static void test_lists_are_split_and_trimmed(void)
{
    env_clear();
    env_set("AWS_REGION", "us-west-2");
    env_set("KVSGATE_JWT_PUBLIC_KEY_FILE", " /a.pem , ,/b.pem");
    env_set("KVSGATE_CORS_ORIGINS", "http://localhost:5173,https://app.example");
    struct kg_config cfg;
    enum kg_err err;
    load(&cfg, &err);
    T_INTEQ(err, KG_OK);
    T_INTEQ(cfg.jwt_public_key_file_count, 2);
    if (cfg.jwt_public_key_file_count == 2) {
        T_STREQ(cfg.jwt_public_key_files[0], "/a.pem");
        T_STREQ(cfg.jwt_public_key_files[1], "/b.pem");
    }
    T_INTEQ(cfg.cors_origin_count, 2);
    config_cleanup(&cfg);
}

static void test_help_lists_every_setting_but_no_secret_default(void)
{
    char text[16384];
    FILE *f = fmemopen(text, sizeof text, "w");
    config_print_help(f);
    fclose(f);
    static const char *const names[] = {"KVSGATE_LISTEN", "KVSGATE_CORS_ORIGINS",
                                        "KVSGATE_JWT_HS256_SECRET", "KVSGATE_JWKS_URL",
                                        "KVSGATE_PRESIGN_EXPIRES_S", "AWS_REGION",
                                        "KVSGATE_KVS_ENDPOINT", "KVSGATE_STS_ENDPOINT",
                                        "KVSGATE_ASSUME_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"};
    for (size_t i = 0; i < T_COUNT(names); i++)
        if (!strstr(text, names[i]))
            t_fail(__FILE__, __LINE__, "help lacks %s", names[i]);
}

int main(int argc, char **argv)
{
    static const struct t_case cases[] = {
        T_CASE(test_minimal_settings_load_with_defaults),
        T_CASE(test_the_hs256_secret_comes_from_the_variable_or_the_file),
        T_CASE(test_aws_default_region_is_a_fallback),
        T_CASE(test_every_error_names_its_variable),
        T_CASE(test_secrets_come_from_files_and_never_both),
        T_CASE(test_a_short_secret_or_no_key_is_refused),
        T_CASE(test_lists_are_split_and_trimmed),
        T_CASE(test_help_lists_every_setting_but_no_secret_default),
    };
    return t_main(cases, T_COUNT(cases), argc, argv);
}
