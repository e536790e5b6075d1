/* libFuzzer target: the credential documents kvsgate reads, STS XML answers
 * (AssumeRole, AssumeRoleWithWebIdentity, ErrorResponse) and the JSON of the
 * container endpoint and IMDS.
 *
 * Input: selector byte, then the body. Selector bits: 0..1 the reader
 * (STS AssumeRole, STS AssumeRoleWithWebIdentity, container JSON, IMDS JSON),
 * bits 2..4 the HTTP status of the STS answer.
 *
 * Invariants: on success the fields pass creds_fields_validate (bounded,
 * printable, non-empty key and secret) and expire after 1970; a snapshot can be
 * taken and released. On failure nothing is left allocated (leak check) and
 * the error is one of the documented ones; an STS error code is [A-Za-z0-9._].
 */
#include "tests/fuzz/fuzz.h"

#include "aws/credentials_impl.h"
#include "core/log.h"

static void check_fields(const struct creds_fields *f)
{
    FUZZ_CHECK(creds_fields_validate(f) == KG_OK);
    FUZZ_CHECK(f->access_key_id && f->access_key_id[0]);
    FUZZ_CHECK(f->secret_access_key && f->secret_access_key[0]);
    FUZZ_CHECK(strlen(f->access_key_id) <= CREDS_ACCESS_KEY_ID_MAX);
    FUZZ_CHECK(strlen(f->secret_access_key) <= CREDS_SECRET_MAX);
    FUZZ_CHECK(!f->session_token || strlen(f->session_token) <= CREDS_TOKEN_MAX);
    FUZZ_CHECK(f->expires_at_s > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        kg_log_set_level(KG_LOG_OFF);
        init = 1;
    }
    static const long statuses[] = {200, 400, 403, 429, 500, 503, 201, 302};
    unsigned sel = fuzz_selector(&data, &size);
    const char *body = (const char *)data;
    struct creds_fields f;
    memset(&f, 0, sizeof f);
    enum kg_err err;
    switch (sel & 3) {
    case 0:
    case 1: {
        long status = statuses[(sel >> 2) & 7];
        char code[64];
        memset(code, 'x', sizeof code);
        err = creds_sts_parse((sel & 3) == 0 ? "AssumeRole" : "AssumeRoleWithWebIdentity",
                              status, body, size, &f, code, sizeof code);
        FUZZ_CHECK(memchr(code, '\0', sizeof code));
        for (const char *p = code; *p; p++)
            FUZZ_CHECK((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                       (*p >= '0' && *p <= '9') || *p == '.' || *p == '_');
        if (err == KG_OK)
            FUZZ_CHECK(status >= 200 && status < 300);
        else
            FUZZ_CHECK(err == KG_ERR_UPSTREAM_REFUSED || err == KG_ERR_UPSTREAM_THROTTLED ||
                       err == KG_ERR_UPSTREAM_UNAVAILABLE);
        break;
    }
    default:
        err = creds_parse_json(body, size, (sel & 3) == 3, &f);
        FUZZ_CHECK(err == KG_OK || err == KG_ERR_UPSTREAM_REFUSED);
        break;
    }
    if (err == KG_OK) {
        check_fields(&f);
        struct creds_snapshot *s = creds_snapshot_take(&f, "fuzz");
        FUZZ_CHECK(s && s->sigv4.access_key_id && s->sigv4.secret_access_key);
        creds_release(s);
    } else {
        FUZZ_CHECK(!f.access_key_id && !f.secret_access_key && !f.session_token);
    }
    creds_fields_cleanup(&f);
    return 0;
}
