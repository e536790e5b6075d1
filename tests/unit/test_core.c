/* core/: bounded buffers, encodings, time formats, log escaping, the error table. */
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/encode.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/num.h"
#include "core/timeutil.h"
#include "testlib.h"

static void test_buf_refuses_appends_past_its_maximum(void)
{
    struct kg_buf b;
    kg_buf_init(&b, 8);
    T_INTEQ(kg_buf_append_str(&b, "12345"), KG_OK);
    T_INTEQ(kg_buf_append_str(&b, "6789"), KG_ERR_PAYLOAD_TOO_LARGE);
    T_STREQ(b.data, "12345"); /* unchanged by the failed append */
    T_INTEQ(kg_buf_append_str(&b, "678"), KG_OK);
    T_STREQ(b.data, "12345678");
    T_INTEQ(kg_buf_append_char(&b, 'x'), KG_ERR_PAYLOAD_TOO_LARGE);
    T_INTEQ(kg_buf_appendf(&b, "%d", 1), KG_ERR_PAYLOAD_TOO_LARGE);
    kg_buf_free(&b);
}

static void test_buf_presize_allocates_once_within_the_maximum_only(void)
{
    struct kg_buf b;
    kg_buf_init_secret(&b, 100);
    kg_buf_presize(&b, 64);
    T_INTEQ(b.cap, 64);
    T_STREQ(b.data, "");
    char *first = b.data;
    for (int i = 0; i < 63; i++)
        T_INTEQ(kg_buf_append_char(&b, 'a'), KG_OK);
    T_CHECK(b.data == first); /* 63 bytes and the NUL: no growth */
    kg_buf_presize(&b, 200); /* has a capacity already: no effect */
    T_INTEQ(b.cap, 64);
    T_INTEQ(kg_buf_append_char(&b, 'b'), KG_OK); /* grows as before */
    T_CHECK(b.cap > 64);
    T_INTEQ(b.len, 64);
    kg_buf_free(&b);
    kg_buf_init(&b, 100);
    kg_buf_presize(&b, 102); /* past max_len + 1: a hint, ignored */
    T_INTEQ(b.cap, 0);
    kg_buf_presize(&b, 101);
    T_INTEQ(b.cap, 101);
    kg_buf_free(&b);
    char storage[8];
    kg_buf_init_fixed(&b, storage, sizeof storage);
    kg_buf_presize(&b, 4);
    T_CHECK(b.data == storage && b.cap == 8);
}

static void test_buf_secret_wipes_every_byte_written_even_past_a_truncation(void)
{
    struct kg_buf b;
    kg_buf_init_secret(&b, 4096);
    kg_buf_presize(&b, 2048);
    T_INTEQ(kg_buf_append_str(&b, "top-secret-token"), KG_OK);
    kg_buf_truncate(&b, 3);
    T_INTEQ(kg_buf_reserve(&b, 40), KG_OK); /* room written without a commit */
    memset(b.data + b.len, 'x', 40);
    kg_buf_reset(&b);
    for (size_t i = 0; i < 3 + 40 + 1; i++)
        T_INTEQ(b.data[i], 0);
    kg_buf_free(&b);
}

static void test_buf_append_char_keeps_the_bound_and_the_wipe_of_a_secret_buffer(void)
{
    struct kg_buf b;
    kg_buf_init_secret(&b, 3);
    kg_buf_presize(&b, 4);
    for (int i = 0; i < 3; i++)
        T_INTEQ(kg_buf_append_char(&b, 's'), KG_OK);
    T_INTEQ(kg_buf_append_char(&b, 'x'), KG_ERR_PAYLOAD_TOO_LARGE);
    T_STREQ(b.data, "sss");
    T_INTEQ(b.cap, 4); /* every byte written in place */
    T_CHECK(b.dirty >= 4);
    kg_buf_reset(&b);
    for (size_t i = 0; i < 4; i++)
        T_INTEQ(b.data[i], 0);
    kg_buf_free(&b);
}

static void test_buf_fixed_never_allocates(void)
{
    char storage[6];
    struct kg_buf b;
    kg_buf_init_fixed(&b, storage, sizeof storage);
    T_INTEQ(kg_buf_appendf(&b, "%s", "abcde"), KG_OK);
    T_CHECK(b.data == storage);
    T_INTEQ(kg_buf_append_char(&b, 'f'), KG_ERR_PAYLOAD_TOO_LARGE);
    char *copy = kg_buf_take(&b, NULL);
    T_STREQ(copy, "abcde");
    free(copy);
    T_INTEQ(b.len, 0);
}

static void test_buf_grows_and_takes(void)
{
    struct kg_buf b;
    kg_buf_init(&b, 1 << 20);
    for (int i = 0; i < 1000; i++)
        T_INTEQ(kg_buf_appendf(&b, "%03d", i % 1000), KG_OK);
    T_INTEQ(b.len, 3000);
    size_t len;
    char *s = kg_buf_take(&b, &len);
    T_INTEQ(len, 3000);
    T_CHECK(memcmp(s, "000001002", 9) == 0);
    free(s);
    T_STREQ(b.data, ""); /* an emptied buffer is still a valid string */
    kg_buf_free(&b);
}

static void test_uri_encode_follows_sigv4(void)
{
    struct kg_buf b;
    kg_buf_init(&b, 1024);
    const char in[] = "a-z_A.Z~0 9/+=:!*'()%\xe1\x88\xb4";
    T_INTEQ(kg_uri_encode(&b, in, strlen(in), 0), KG_OK);
    T_STREQ(b.data, "a-z_A.Z~0%209%2F%2B%3D%3A%21%2A%27%28%29%25%E1%88%B4");
    kg_buf_reset(&b);
    T_INTEQ(kg_uri_encode(&b, "/a b/c", 6, 1), KG_OK);
    T_STREQ(b.data, "/a%20b/c");
    kg_buf_free(&b);
}

static void test_uri_encode_is_bounded_and_exact(void)
{
    struct kg_buf b;
    kg_buf_init(&b, 8);
    T_INTEQ(kg_buf_append_str(&b, "ab"), KG_OK);
    T_INTEQ(kg_uri_encode(&b, "c d", 3, 0), KG_OK); /* "c%20d": exactly fills 7 */
    T_STREQ(b.data, "abc%20d");
    T_INTEQ(kg_uri_encode(&b, " ", 1, 0), KG_ERR_PAYLOAD_TOO_LARGE);
    T_STREQ(b.data, "abc%20d"); /* unchanged */
    T_INTEQ(kg_uri_encode(&b, "x", 1, 0), KG_OK);
    T_STREQ(b.data, "abc%20dx");
    kg_buf_free(&b);
    /* every byte value, both modes */
    kg_buf_init(&b, 4096);
    for (int c = 0; c < 256; c++) {
        char in[1] = {(char)c}, want[4];
        int keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '.' || c == '_' || c == '~';
        for (int slash = 0; slash < 2; slash++) {
            if (keep || (slash && c == '/'))
                snprintf(want, sizeof want, "%c", c);
            else
                snprintf(want, sizeof want, "%%%02X", c);
            kg_buf_reset(&b);
            T_INTEQ(kg_uri_encode(&b, in, 1, slash), KG_OK);
            if (strcmp(b.data, want) != 0)
                t_fail(__FILE__, __LINE__, "byte %d (keep_slash %d): got %s want %s", c, slash,
                       b.data, want);
        }
    }
    kg_buf_free(&b);
}

static void test_http_token_bytes_are_rfc9110_tchar_exactly(void)
{
    for (int c = 0; c < 256; c++) {
        int want = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   (c && strchr("!#$%&'*+-.^_`|~", c));
        if (kg_http_token_char((unsigned char)c) != want)
            t_fail(__FILE__, __LINE__, "byte 0x%02x: want %d", c, want);
    }
}

static void test_base64url_decodes_every_length(void)
{
    unsigned char raw[100];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof raw; n++) {
        struct kg_buf e, d;
        kg_buf_init(&e, 1024);
        kg_buf_init(&d, 1024);
        T_INTEQ(kg_base64url_encode(&e, raw, n), KG_OK);
        T_INTEQ(kg_buf_append_str(&d, "pre"), KG_OK);
        T_INTEQ(kg_base64url_decode(&d, e.data, e.len), KG_OK);
        T_MEMEQ(d.data, 3, "pre", 3);
        T_MEMEQ(d.data + 3, d.len - 3, raw, n);
        /* a bad character anywhere leaves the buffer as it was */
        if (e.len) {
            e.data[e.len / 2] = '!';
            size_t before = d.len;
            T_INTEQ(kg_base64url_decode(&d, e.data, e.len), KG_ERR_BAD_REQUEST);
            T_INTEQ(d.len, before);
            T_INTEQ(d.data[d.len], 0);
        }
        kg_buf_free(&e);
        kg_buf_free(&d);
    }
    /* the bound: 8 bytes of room, "Zm9vYmFy" decodes to 6 */
    struct kg_buf d;
    kg_buf_init(&d, 5);
    T_INTEQ(kg_base64url_decode(&d, "Zm9vYmFy", 8), KG_ERR_PAYLOAD_TOO_LARGE);
    T_INTEQ(d.len, 0);
    kg_buf_free(&d);
}

static void test_json_strings_escape_and_refuse_bad_utf8(void)
{
    struct kg_buf b;
    kg_buf_init(&b, 1024);
    const char in[] = "a\"b\\c/\n\r\t\x01\x1f\x7f caf\xc3\xa9 \xf0\x9f\x8e\xa5";
    T_INTEQ(kg_json_append_string(&b, in, sizeof in - 1), KG_OK);
    T_STREQ(b.data, "\"a\\\"b\\\\c/\\n\\r\\t\\u0001\\u001f\\u007f caf\xc3\xa9 \xf0\x9f\x8e\xa5\"");
    /* jansson reads back exactly the input */
    json_error_t jerr;
    json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY, &jerr);
    T_CHECK(j && json_is_string(j));
    if (j)
        T_MEMEQ(json_string_value(j), json_string_length(j), in, sizeof in - 1);
    json_decref(j);
    kg_buf_reset(&b);
    T_INTEQ(kg_json_append_string(&b, "", 0), KG_OK);
    T_STREQ(b.data, "\"\"");
    /* NUL inside is escaped, not a terminator */
    kg_buf_reset(&b);
    T_INTEQ(kg_json_append_string(&b, "a\0b", 3), KG_OK);
    T_STREQ(b.data, "\"a\\u0000b\"");
    /* invalid UTF-8 (stray continuation, overlong, surrogate, cut short) fails, unchanged */
    static const char *bad[] = {"\x80", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "ok\xff"};
    for (size_t i = 0; i < T_COUNT(bad); i++) {
        kg_buf_reset(&b);
        T_INTEQ(kg_buf_append_str(&b, "x"), KG_OK);
        if (kg_json_append_string(&b, bad[i], strlen(bad[i])) != KG_ERR_BAD_REQUEST)
            t_fail(__FILE__, __LINE__, "bad UTF-8 #%zu accepted", i);
        T_STREQ(b.data, "x");
    }
    kg_buf_free(&b);
    /* every byte value at every position of a 40-byte string (the word-at-a-time
     * scan and its tail), read back by jansson or refused as bad UTF-8 */
    for (int c = 1; c < 256; c++) {
        for (size_t pos = 0; pos < 40; pos++) {
            char str[40];
            memset(str, 'a', sizeof str);
            str[pos] = (char)c;
            kg_buf_reset(&b);
            enum kg_err e = kg_json_append_string(&b, str, sizeof str);
            if (c >= 0x80) {
                if (e != KG_ERR_BAD_REQUEST)
                    t_fail(__FILE__, __LINE__, "lone byte 0x%02x at %zu accepted", c, pos);
                continue;
            }
            json_t *r = e == KG_OK ? json_loadb(b.data, b.len, JSON_DECODE_ANY, &jerr) : NULL;
            if (!r || json_string_length(r) != sizeof str ||
                memcmp(json_string_value(r), str, sizeof str) != 0)
                t_fail(__FILE__, __LINE__, "byte 0x%02x at %zu: %s", c, pos, b.data);
            json_decref(r);
        }
    }
    kg_buf_free(&b);
    kg_buf_init(&b, 1024);
    /* the bound counts escapes */
    kg_buf_init(&b, 5);
    T_INTEQ(kg_json_append_string(&b, "\"\"", 2), KG_ERR_PAYLOAD_TOO_LARGE); /* needs 6 */
    T_INTEQ(kg_json_append_string(&b, "\"", 1), KG_OK);                     /* needs 4 */
    T_STREQ(b.data, "\"\\\"\"");
    kg_buf_free(&b);
}

static void test_uri_decode_is_strict(void)
{
    struct kg_buf b;
    kg_buf_init(&b, 1024);
    T_INTEQ(kg_uri_decode(&b, "a%20b+c%2f", 10, 0), KG_OK);
    T_STREQ(b.data, "a b+c/");
    kg_buf_reset(&b);
    T_INTEQ(kg_uri_decode(&b, "a+b", 3, 1), KG_OK);
    T_STREQ(b.data, "a b");
    kg_buf_reset(&b);
    T_INTEQ(kg_uri_decode(&b, "%2", 2, 0), KG_ERR_BAD_REQUEST);
    kg_buf_reset(&b);
    T_INTEQ(kg_uri_decode(&b, "%zz", 3, 0), KG_ERR_BAD_REQUEST);
    kg_buf_reset(&b);
    T_INTEQ(kg_uri_decode(&b, "%00", 3, 0), KG_OK);
    T_INTEQ(b.len, 1);
    kg_buf_free(&b);
}

static void test_base64_round_trips_and_rejects_junk(void)
{
    struct kg_buf b;
    kg_buf_init(&b, 1024);
    const unsigned char raw[] = {0xfb, 0xff, 0x00, 'a', 'b'};
    for (size_t n = 0; n <= sizeof raw; n++) {
        kg_buf_reset(&b);
        T_INTEQ(kg_base64url_encode(&b, raw, n), KG_OK);
        T_CHECK(strchr(b.data, '=') == NULL);
        struct kg_buf d;
        kg_buf_init(&d, 64);
        T_INTEQ(kg_base64url_decode(&d, b.data, b.len), KG_OK);
        T_MEMEQ(d.data, d.len, raw, n);
        kg_buf_free(&d);
        kg_buf_reset(&b);
        T_INTEQ(kg_base64_encode(&b, raw, n), KG_OK);
        T_INTEQ(b.len % 4, 0);
        kg_buf_init(&d, 64);
        T_INTEQ(kg_base64_decode(&d, b.data, b.len), KG_OK);
        T_MEMEQ(d.data, d.len, raw, n);
        kg_buf_free(&d);
    }
    kg_buf_reset(&b);
    T_INTEQ(kg_base64_encode(&b, (const unsigned char *)"foobar", 6), KG_OK);
    T_STREQ(b.data, "Zm9vYmFy");
    static const char *bad_url[] = {"Zm9v YmFy", "Zm9vYmFy=", "Zm9vY", "Zm9+", "Zm9/", "Zh", "a"};
    for (size_t i = 0; i < T_COUNT(bad_url); i++) {
        kg_buf_reset(&b);
        if (kg_base64url_decode(&b, bad_url[i], strlen(bad_url[i])) != KG_ERR_BAD_REQUEST)
            t_fail(__FILE__, __LINE__, "base64url accepted '%s'", bad_url[i]);
    }
    static const char *bad_std[] = {"Zm9vYmE", "Zm9v-mFy", "Zg=", "Zh==", "Z===", "=Zg="};
    for (size_t i = 0; i < T_COUNT(bad_std); i++) {
        kg_buf_reset(&b);
        if (kg_base64_decode(&b, bad_std[i], strlen(bad_std[i])) != KG_ERR_BAD_REQUEST)
            t_fail(__FILE__, __LINE__, "base64 accepted '%s'", bad_std[i]);
    }
    kg_buf_free(&b);
}

static void test_time_formats_round_trip(void)
{
    char amz[KG_AMZ_DATE_LEN + 1], iso[KG_ISO8601_LEN + 1], ms[25];
    kg_time_format_amz(1440938160, amz);
    T_STREQ(amz, "20150830T123600Z");
    kg_time_format_iso8601(1440938160, iso);
    T_STREQ(iso, "2015-08-30T12:36:00Z");
    kg_time_format_iso8601_ms(1440938160123LL, ms);
    T_STREQ(ms, "2015-08-30T12:36:00.123Z");
    int64_t t = 0;
    T_INTEQ(kg_time_parse_amz("20150830T123600Z", &t), KG_OK);
    T_INTEQ(t, 1440938160);
    T_INTEQ(kg_time_parse_iso8601("2015-08-30T12:36:00Z", &t), KG_OK);
    T_INTEQ(t, 1440938160);
    T_INTEQ(kg_time_parse_iso8601("2015-08-30T12:36:00.999999Z", &t), KG_OK);
    T_INTEQ(t, 1440938160);
    T_INTEQ(kg_time_parse_iso8601("2015-08-30T14:36:00+02:00", &t), KG_OK);
    T_INTEQ(t, 1440938160);
    T_INTEQ(kg_time_parse_iso8601("2024-02-29T00:00:00Z", &t), KG_OK);
}

/* The formatter's own UTC arithmetic agrees with glibc's gmtime_r: every day
 * from 1900 to 2400 at a varying second, and the edges around them. */
static void test_time_formatting_agrees_with_gmtime_r(void)
{
    char got[KG_ISO8601_LEN + 1], want[64];
    int bad = 0;
    for (int64_t day = -25567; day <= 157000 && bad < 5; day++) {
        int64_t offsets[] = {0, 1, 59, 3599, 43210 + day % 997, 86399};
        for (size_t k = 0; k < T_COUNT(offsets); k++) {
            int64_t t = day * 86400 + offsets[k];
            time_t tt = (time_t)t;
            struct tm tm;
            gmtime_r(&tt, &tm);
            snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02dZ", (tm.tm_year + 1900) % 10000,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
            kg_time_format_iso8601(t, got);
            if (strcmp(got, want) != 0 && bad++ < 5)
                t_fail(__FILE__, __LINE__, "%lld: got %s, gmtime_r %s", (long long)t, got, want);
        }
    }
    char amz[KG_AMZ_DATE_LEN + 1];
    kg_time_format_amz(951782400, amz); /* 2000-02-29, a leap day of a century year */
    T_STREQ(amz, "20000229T000000Z");
    kg_time_format_amz(4107542399LL, amz);
    T_STREQ(amz, "21000228T235959Z"); /* 2100 is not a leap year */
    kg_time_format_amz(4107542400LL, amz);
    T_STREQ(amz, "21000301T000000Z");
}

static void test_time_parsers_reject_malformed_dates(void)
{
    static const char *bad_amz[] = {"", "20150830T123600", "20150830 123600Z", "2015083T1236000Z",
                                    "20151330T123600Z", "20150230T123600Z", "20150830T243600Z",
                                    "20150830T123600Zx", "2O150830T123600Z"};
    int64_t t;
    for (size_t i = 0; i < T_COUNT(bad_amz); i++)
        if (kg_time_parse_amz(bad_amz[i], &t) == KG_OK)
            t_fail(__FILE__, __LINE__, "accepted '%s'", bad_amz[i]);
    static const char *bad_iso[] = {"2015-08-30", "2015-08-30T12:36:00", "2015-08-30T12:36:00.Z",
                                    "2023-02-29T00:00:00Z", "2015-08-30T12:36:00+2:00",
                                    "2015-08-30T12:36:00ZZ"};
    for (size_t i = 0; i < T_COUNT(bad_iso); i++)
        if (kg_time_parse_iso8601(bad_iso[i], &t) == KG_OK)
            t_fail(__FILE__, __LINE__, "accepted '%s'", bad_iso[i]);
}

static void test_json_escape_handles_controls_and_bad_utf8(void)
{
    char out[128];
    const char in[] = "a\"b\\c\n\x01\xe1\x88\xb4\xff\xc0\xaf";
    size_t used;
    size_t n = kg_json_escape(out, sizeof out, in, sizeof in - 1, &used);
    out[n] = '\0';
    T_STREQ(out, "a\\\"b\\\\c\\n\\u0001\xe1\x88\xb4\\ufffd\\ufffd\\ufffd");
    T_INTEQ(used, sizeof in - 1);
    /* A cap that cuts an escape stops before it. */
    n = kg_json_escape(out, 2, "a\"b", 3, &used);
    T_INTEQ(n, 1);
    T_INTEQ(used, 1);
}

/* Every special byte at every position of strings 1-48 bytes long (the scan
 * goes 16 or 8 bytes at a time, then one by one): escaped exactly there, the
 * plain bytes around it copied. */
static void test_json_escape_finds_a_special_byte_at_every_position(void)
{
    static const struct {
        const char *in, *out;
    } specials[] = {{"\"", "\\\""}, {"\\", "\\\\"}, {"\x01", "\\u0001"}, {"\x1f", "\\u001f"},
                    {"\x7f", "\\u007f"}, {"\n", "\\n"}, {"\xc3\xa9", "\xc3\xa9"}, {"\xff", "\\ufffd"}};
    char in[64], want[96], out[96];
    for (size_t len = 1; len <= 48; len++)
        for (size_t k = 0; k < len; k++)
            for (size_t s = 0; s < sizeof specials / sizeof specials[0]; s++) {
                size_t sl = strlen(specials[s].in), ol = strlen(specials[s].out);
                memset(in, 'a', sizeof in);
                memcpy(in + k, specials[s].in, sl);
                memset(want, 'a', k);
                memcpy(want + k, specials[s].out, ol);
                memset(want + k + ol, 'a', len - k - 1);
                size_t wl = k + ol + len - k - 1;
                size_t used, n = kg_json_escape(out, sizeof out, in, len + sl - 1, &used);
                if (n != wl || memcmp(out, want, wl) != 0 || used != len + sl - 1)
                    t_fail(__FILE__, __LINE__, "special %zu at %zu of %zu: %.*s", s, k, len, (int)n,
                           out);
            }
}

/* What the pipe holds now (non-blocking read), NUL-terminated. */
static size_t pipe_take(int fd, char *out, size_t cap)
{
    ssize_t n = read(fd, out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
    return n > 0 ? (size_t)n : 0;
}

static void test_buffered_log_gathers_info_and_writes_warnings_at_once_in_order(void)
{
    int fds[2];
    T_CHECK(pipe(fds) == 0);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    kg_log_set_fd(fds[1]);
    kg_log_set_level(KG_LOG_INFO);
    kg_log_buffer_start(60000); /* the thread would write only after a minute */
    char out[8192];
    kg_log_msg(KG_LOG_INFO, "access", "one");
    kg_log_msg(KG_LOG_INFO, "access", "two");
    T_INTEQ(pipe_take(fds[0], out, sizeof out), 0); /* gathered, not written */
    kg_log_msg(KG_LOG_WARN, "trouble", "three");
    pipe_take(fds[0], out, sizeof out);
    const char *one = strstr(out, "\"one\""), *two = strstr(out, "\"two\""),
               *three = strstr(out, "\"three\"");
    T_CHECK(one && two && three && one < two && two < three); /* all, in order */
    kg_log_msg(KG_LOG_INFO, "access", "four");
    T_INTEQ(pipe_take(fds[0], out, sizeof out), 0);
    kg_log_flush();
    pipe_take(fds[0], out, sizeof out);
    T_CHECK(strstr(out, "\"four\"") != NULL);
    for (int i = 0; i < 70; i++) /* 70 lines of ~1 KiB: past the 64 KiB buffer once */
        kg_log_msg(KG_LOG_INFO, "access", "%0900d", i);
    size_t got = 0, n;
    while ((n = pipe_take(fds[0], out, sizeof out)) > 0)
        got += n;
    T_CHECK(got > 60000 && got <= KG_LOG_BUFFER_BYTES); /* the full buffer, written on its own */
    kg_log_msg(KG_LOG_INFO, "access", "last");
    kg_log_buffer_stop(); /* writes the rest */
    while (pipe_take(fds[0], out, sizeof out) == sizeof out - 1)
        ;
    T_CHECK(strstr(out, "\"last\"") != NULL);
    kg_log_msg(KG_LOG_INFO, "access", "direct"); /* stopped: written at once */
    pipe_take(fds[0], out, sizeof out);
    T_CHECK(strstr(out, "\"direct\"") != NULL);
    kg_log_set_fd(2);
    close(fds[0]);
    close(fds[1]);
}

static void test_log_lines_are_single_json_objects(void)
{
    int fds[2];
    T_CHECK(pipe(fds) == 0);
    kg_log_set_fd(fds[1]);
    kg_log_set_level(KG_LOG_INFO);
    struct kg_log_line l;
    T_CHECK(!kg_log_begin(&l, KG_LOG_DEBUG, "hidden"));
    T_CHECK(kg_log_begin(&l, KG_LOG_WARN, "creds_refresh_failed"));
    kg_log_str(&l, "source", "imds\n\"x\"");
    kg_log_int(&l, "retry_in_s", -30);
    kg_log_bool(&l, "fatal", 0);
    kg_log_end(&l);
    char big[8000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    kg_log_msg(KG_LOG_ERROR, "big", "%s", big);
    T_CHECK(kg_log_begin(&l, KG_LOG_ERROR, "huge_field"));
    kg_log_str(&l, "v", big);
    kg_log_end(&l);
    kg_log_set_fd(2);
    close(fds[1]);
    char out[16384];
    ssize_t n = read(fds[0], out, sizeof out - 1);
    close(fds[0]);
    T_CHECK(n > 0);
    out[n > 0 ? n : 0] = '\0';
    char *first = strtok_r(out, "\n", &(char *){NULL});
    T_CHECK(first && strstr(first, "\"level\":\"warn\",\"event\":\"creds_refresh_failed\","
                                   "\"source\":\"imds\\n\\\"x\\\"\",\"retry_in_s\":-30,"
                                   "\"fatal\":false}"));
    char *rest = first + strlen(first) + 1;
    char *second = rest;
    char *nl = strchr(second, '\n');
    T_CHECK(nl != NULL);
    if (nl) {
        *nl = '\0';
        T_CHECK(strlen(second) < KG_LOG_LINE_MAX);
        T_CHECK(strstr(second, "\"event\":\"big\"") != NULL);
        char *third = nl + 1;
        char *nl3 = strchr(third, '\n');
        T_CHECK(nl3 != NULL);
        if (nl3) {
            *nl3 = '\0';
            T_CHECK(strlen(third) < KG_LOG_LINE_MAX);
            size_t tl = strlen(third);
            T_CHECK(tl > 20 && strcmp(third + tl - 19, "\",\"truncated\":true}") == 0);
        }
    }
}

/* Reads every line written to fd so far; each must be one JSON object of at
 * most KG_LOG_LINE_MAX bytes with its newline. Returns the number of lines. */
static int check_log_lines(int fd, int *truncated_lines)
{
    static char out[1 << 20];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof out - 1 && (n = read(fd, out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    int lines = 0;
    for (char *p = out; *p;) {
        char *nl = strchr(p, '\n');
        T_CHECK(nl != NULL);
        if (!nl)
            break;
        size_t line_len = (size_t)(nl - p) + 1;
        if (line_len > KG_LOG_LINE_MAX)
            t_fail(__FILE__, __LINE__, "a log line of %zu bytes", line_len);
        json_error_t e;
        json_t *v = json_loadb(p, line_len - 1, 0, &e);
        if (!v || !json_is_object(v))
            t_fail(__FILE__, __LINE__, "not one JSON object (%s): %.200s", e.text, p);
        if (v && json_is_true(json_object_get(v, "truncated")))
            (*truncated_lines)++;
        json_decref(v);
        lines++;
        p = nl + 1;
    }
    return lines;
}

/* The crash of issue 13: one escaped field filled the line, and the next
 * field's room wrapped. Every size from empty to far past the line, of bytes
 * that escape to six (controls, invalid UTF-8), two (quotes, backslashes) or
 * stay one, in up to eight fields of every kind in a row. */
static void test_log_lines_stay_bounded_json_whatever_the_fields(void)
{
    int fds[2];
    T_CHECK(pipe(fds) == 0);
    T_CHECK(fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0);
    kg_log_set_fd(fds[1]);
    kg_log_set_level(KG_LOG_INFO);
    static const char fills[] = {'\x01', '\xff', '"', '\\', 'x', '\x7f'};
    static char value[6000];
    int lines = 0, truncated = 0, written = 0;
    for (size_t f = 0; f < sizeof fills; f++) {
        for (size_t size = 0; size <= sizeof value; size += size < 64 ? 1 : 397) {
            memset(value, fills[f], size);
            struct kg_log_line l;
            T_CHECK(kg_log_begin(&l, KG_LOG_INFO, "access"));
            for (int k = 0; k < 8; k++) {
                kg_log_strn(&l, "subject", value, size);
                kg_log_int(&l, "status", INT64_MIN);
                kg_log_str(&l, "channel", "cam-\xe2\x82\xac");
                kg_log_bool(&l, "client_gone", 1);
                kg_log_null(&l, "cache");
            }
            kg_log_end(&l);
            written++;
            if (written % 8 == 0) /* a pipe holds 16 full lines */
                lines += check_log_lines(fds[0], &truncated);
        }
    }
    kg_log_set_fd(2);
    close(fds[1]);
    lines += check_log_lines(fds[0], &truncated);
    close(fds[0]);
    T_INTEQ(lines, written);
    T_CHECK(truncated > 0 && truncated < written);
}

/* A value cut short ends at a character boundary: never half an escape or half
 * a UTF-8 sequence, and the line says it was cut. */
static void test_log_cuts_values_at_character_boundaries(void)
{
    int fds[2];
    T_CHECK(pipe(fds) == 0);
    kg_log_set_fd(fds[1]);
    static char value[5000];
    for (size_t i = 0; i + 3 <= sizeof value; i += 3)
        memcpy(value + i, "\xe2\x82\xac", 3); /* EURO SIGN */
    struct kg_log_line l;
    T_CHECK(kg_log_begin(&l, KG_LOG_WARN, "cut"));
    kg_log_strn(&l, "v", value, sizeof value - sizeof value % 3);
    kg_log_end(&l);
    kg_log_set_fd(2);
    close(fds[1]);
    char out[KG_LOG_LINE_MAX + 1];
    ssize_t n = read(fds[0], out, sizeof out - 1);
    close(fds[0]);
    T_CHECK(n > 0 && n <= KG_LOG_LINE_MAX);
    out[n > 0 ? n : 0] = '\0';
    json_error_t e;
    json_t *v = json_loads(out, 0, &e);
    T_CHECK(v != NULL);
    const char *got = json_string_value(json_object_get(v, "v"));
    T_CHECK(got && strlen(got) % 3 == 0 && strlen(got) > 3000);
    T_CHECK(json_is_true(json_object_get(v, "truncated")));
    json_decref(v);
}

static void test_integers_parse_strictly_within_bounds(void)
{
    struct {
        const char *s;
        int64_t min, max;
        int ok;
        int64_t want;
    } cases[] = {
        {"0", 0, 10, 1, 0},
        {"10", 0, 10, 1, 10},
        {"11", 0, 10, 0, 0},
        {"-1", -5, 5, 1, -1},
        {"-6", -5, 5, 0, 0},
        {"007", 0, 10, 1, 7},
        {"9223372036854775807", INT64_MIN, INT64_MAX, 1, INT64_MAX},
        {"-9223372036854775808", INT64_MIN, INT64_MAX, 1, INT64_MIN},
        {"9223372036854775808", INT64_MIN, INT64_MAX, 0, 0},
        {"-9223372036854775809", INT64_MIN, INT64_MAX, 0, 0},
        {"18446744073709551616", INT64_MIN, INT64_MAX, 0, 0},
        {"99999999999999999999", INT64_MIN, INT64_MAX, 0, 0},
        {"", 0, 10, 0, 0},
        {"-", 0, 10, 0, 0},
        {"+1", 0, 10, 0, 0},
        {" 1", 0, 10, 0, 0},
        {"1 ", 0, 10, 0, 0},
        {"1e2", 0, 1000, 0, 0},
        {"0x10", 0, 1000, 0, 0},
        {"--1", -10, 10, 0, 0},
    };
    for (size_t i = 0; i < T_COUNT(cases); i++) {
        int64_t v = 42;
        int ok = kg_parse_int64(cases[i].s, cases[i].min, cases[i].max, &v);
        if (ok != cases[i].ok || (ok && v != cases[i].want) || (!ok && v != 42))
            t_fail(__FILE__, __LINE__, "'%s': ok %d value %lld", cases[i].s, ok, (long long)v);
    }
    int64_t v;
    T_CHECK(!kg_parse_int64(NULL, 0, 1, &v));
    T_CHECK(kg_parse_int64n("12x", 2, 0, 100, &v) && v == 12);
}

static void test_every_error_maps_to_a_status_and_code(void)
{
    for (int e = 0; e < KG_ERR__COUNT; e++) {
        int s = kg_err_http_status((enum kg_err)e);
        T_CHECK(e == KG_OK ? s == 200 : (s >= 400 && s <= 599));
        T_CHECK(kg_err_code((enum kg_err)e) != NULL && kg_err_code((enum kg_err)e)[0]);
        T_CHECK(kg_err_title((enum kg_err)e) != NULL);
        T_CHECK(strncmp(kg_err_name((enum kg_err)e), "KG_", 3) == 0);
    }
    T_INTEQ(kg_err_http_status(KG_ERR_CHANNEL_NOT_FOUND), 404);
    T_STREQ(kg_err_code(KG_ERR_UPSTREAM_THROTTLED), "upstream_throttled");
    T_INTEQ(kg_err_http_status((enum kg_err)9999), 500);
}

static void test_decimal_text_of_every_int64_edge(void)
{
    static const struct {
        int64_t v;
        const char *want;
    } cases[] = {{0, "0"}, {7, "7"}, {-1, "-1"}, {300, "300"}, {604800, "604800"},
                 {INT64_MAX, "9223372036854775807"}, {INT64_MIN, "-9223372036854775808"}};
    for (size_t i = 0; i < T_COUNT(cases); i++) {
        char out[KG_DECIMAL_MAX + 1];
        memset(out, 'x', sizeof out);
        T_INTEQ(kg_decimal(cases[i].v, out), strlen(cases[i].want));
        T_STREQ(out, cases[i].want);
    }
}

static void test_crypto_primitives_match_known_answers(void)
{
    char hex[65];
    kg_sha256_hex("", 0, hex);
    T_STREQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    kg_sha256_hex("abc", 3, hex);
    T_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* a prefix is hashed as if joined: "ab" + "c", "" + "abc", "abc" + "" */
    static const size_t splits[] = {2, 0, 3};
    static const char abc[] = "abc";
    for (size_t i = 0; i < 3; i++) {
        unsigned char d[32];
        kg_sha256_prefixed(abc, splits[i], &abc[splits[i]], 3 - splits[i], d);
        kg_hex_lower(d, 32, hex);
        T_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
    /* RFC 4231 test case 2 */
    unsigned char mac[32];
    kg_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
    char mhex[65];
    kg_hex_lower(mac, 32, mhex);
    T_STREQ(mhex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* The per-thread contexts re-use the keys they hold: keys alternating,
     * repeated, empty, longer than a block, and more keys in turn than there
     * are contexts (each evicting the oldest, then coming back) all give
     * RFC 4231 / OpenSSL one-shot answers. */
    static const struct {
        const char *key, *msg, *want;
    } macs[] = {
        {"Jefe", "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {"Jefe", "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {"Jefd", "what do ya want for nothing?", NULL},
        {"Jefe", "another message", NULL},
        {"", "x", NULL},
        {"Jefe", "another message", NULL},
        {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", "long key",
         NULL},
        {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", "long key",
         NULL},
        {"Jefe", "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {"key-1", "m", NULL}, {"key-2", "m", NULL}, {"key-3", "m", NULL}, {"key-4", "m", NULL},
        {"key-5", "m", NULL}, {"key-6", "m", NULL}, {"key-1", "m", NULL}, {"key-6", "m", NULL},
        {"key-2", "n", NULL}, {"key-5", "n", NULL}, {"key-3", "n", NULL}, {"key-1", "n", NULL},
        {"Jefe", "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    };
    for (size_t i = 0; i < T_COUNT(macs); i++) {
        unsigned char got[32], want[32];
        unsigned int wlen = 0;
        kg_hmac_sha256(macs[i].key, strlen(macs[i].key), macs[i].msg, strlen(macs[i].msg), got);
        HMAC(EVP_sha256(), macs[i].key, (int)strlen(macs[i].key),
             (const unsigned char *)macs[i].msg, strlen(macs[i].msg), want, &wlen);
        if (memcmp(got, want, 32) != 0)
            t_fail(__FILE__, __LINE__, "HMAC #%zu differs from OpenSSL's one-shot", i);
        if (macs[i].want) {
            kg_hex_lower(got, 32, mhex);
            T_STREQ(mhex, macs[i].want);
        }
    }
    T_CHECK(kg_ct_streq("abc", "abc"));
    T_CHECK(!kg_ct_streq("abc", "abd"));
    T_CHECK(!kg_ct_streq("abc", "abcd"));
    unsigned char r1[16] = {0}, r2[16] = {0};
    T_INTEQ(kg_random_bytes(r1, sizeof r1), KG_OK);
    T_INTEQ(kg_random_bytes(r2, sizeof r2), KG_OK);
    T_CHECK(memcmp(r1, r2, sizeof r1) != 0);
}

static void test_http_dates_parse_in_the_imf_fixdate_form_only(void)
{
    int64_t t = 0;
    T_INTEQ(kg_time_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &t), KG_OK);
    T_INTEQ(t, 784111777);
    T_INTEQ(kg_time_parse_http_date("Wed, 02 Dec 2026 03:00:58 GMT", &t), KG_OK);
    T_INTEQ(t, 1796180458);
    const char *bad[] = {NULL, "", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                         "Sun, 06 Nov 1994 08:49:37 UTC", "Xyz, 06 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 31 Feb 1994 08:49:37 GMT",
                         "Sun, 06 Nov 1994 24:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT ",
                         "Sun, 6 Nov 1994 08:49:37 GMT"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (kg_time_parse_http_date(bad[i], &t) != KG_ERR_BAD_REQUEST)
            t_fail(__FILE__, __LINE__, "accepted %s", bad[i] ? bad[i] : "NULL");
}

static void test_the_aws_clock_is_the_host_clock_plus_the_learnt_offset(void)
{
    kg_aws_clock_offset_set(600);
    int64_t host = kg_now_s(), aws = kg_aws_now_s(), off = kg_aws_clock_offset_s();
    T_CHECK(aws - host >= 599 && aws - host <= 601); /* kept to the millisecond on the monotonic clock */
    T_CHECK(off >= 599 && off <= 601);
    kg_aws_clock_offset_set(-86000);
    off = kg_aws_clock_offset_s();
    T_CHECK(off >= -86001 && off <= -85999);
    kg_aws_clock_offset_set(0);
    T_INTEQ(kg_aws_clock_offset_s(), 0);
    T_CHECK(kg_aws_now_s() == kg_now_s() || kg_aws_now_s() - kg_now_s() == 1);
}

static void test_hash_mixes_every_byte_the_length_and_the_seed(void)
{
    unsigned char buf[48];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof buf; n++) {
        uint64_t h = kg_hash_bytes(7, buf, n);
        T_CHECK(h == kg_hash_bytes(7, buf, n));
        T_CHECK(h != kg_hash_bytes(8, buf, n));
        if (n)
            T_CHECK(h != kg_hash_bytes(7, buf, n - 1)); /* a NUL tail is not the shorter key */
        for (size_t i = 0; i < n; i++)
            for (int bit = 0; bit < 8; bit++) {
                buf[i] ^= (unsigned char)(1u << bit);
                T_CHECK(kg_hash_bytes(7, buf, n) != h);
                buf[i] ^= (unsigned char)(1u << bit);
            }
    }
    T_CHECK(kg_hash_str(3, "bench-w-1") == kg_hash_bytes(3, "bench-w-1", 9));
    /* chained as the metric labels are: the boundary between values counts */
    T_CHECK(kg_hash_str(kg_hash_str(0, "a"), "bc") != kg_hash_str(kg_hash_str(0, "ab"), "c"));
    T_CHECK(kg_hash_seed() == kg_hash_seed());
}

static void test_hash_spreads_similar_keys_over_buckets(void)
{
    /* 163,840 keys that differ in a counter, as channel names do, under four
     * fixed seeds (the outcome the same every run): every one of 64 buckets
     * (the low bits, as the tables use them) within 15% of its share, and
     * the top 4 bits (the rate limit's stripes) within 5%, both past five
     * standard deviations of a uniform hash. */
    enum { KEYS = 163840 };
    char key[32];
    for (uint64_t seed = 1; seed <= 4; seed++) {
        size_t low[64] = {0}, top[16] = {0};
        for (int i = 0; i < KEYS; i++) {
            snprintf(key, sizeof key, "bench-w-%d", i);
            uint64_t h = kg_hash_str(seed * 0x9E3779B97F4A7C15ULL, key);
            low[h & 63]++;
            top[h >> 60]++;
        }
        for (int b = 0; b < 64; b++)
            T_CHECK(low[b] > KEYS / 64 * 85 / 100 && low[b] < KEYS / 64 * 115 / 100);
        for (int b = 0; b < 16; b++)
            T_CHECK(top[b] > KEYS / 16 * 95 / 100 && top[b] < KEYS / 16 * 105 / 100);
    }
}

int main(int argc, char **argv)
{
    static const struct t_case cases[] = {
        T_CASE(test_http_dates_parse_in_the_imf_fixdate_form_only),
        T_CASE(test_the_aws_clock_is_the_host_clock_plus_the_learnt_offset),
        T_CASE(test_buf_refuses_appends_past_its_maximum),
        T_CASE(test_hash_mixes_every_byte_the_length_and_the_seed),
        T_CASE(test_hash_spreads_similar_keys_over_buckets),
        T_CASE(test_buf_append_char_keeps_the_bound_and_the_wipe_of_a_secret_buffer),
        T_CASE(test_buf_fixed_never_allocates),
        T_CASE(test_buffered_log_gathers_info_and_writes_warnings_at_once_in_order),
        T_CASE(test_buf_secret_wipes_every_byte_written_even_past_a_truncation),
        T_CASE(test_buf_presize_allocates_once_within_the_maximum_only),
        T_CASE(test_buf_grows_and_takes),
        T_CASE(test_uri_encode_follows_sigv4),
        T_CASE(test_uri_encode_is_bounded_and_exact),
        T_CASE(test_base64url_decodes_every_length),
        T_CASE(test_json_strings_escape_and_refuse_bad_utf8),
        T_CASE(test_uri_decode_is_strict),
        T_CASE(test_base64_round_trips_and_rejects_junk),
        T_CASE(test_time_formats_round_trip),
        T_CASE(test_time_formatting_agrees_with_gmtime_r),
        T_CASE(test_time_parsers_reject_malformed_dates),
        T_CASE(test_json_escape_handles_controls_and_bad_utf8),
        T_CASE(test_json_escape_finds_a_special_byte_at_every_position),
        T_CASE(test_http_token_bytes_are_rfc9110_tchar_exactly),
        T_CASE(test_log_lines_are_single_json_objects),
        T_CASE(test_log_lines_stay_bounded_json_whatever_the_fields),
        T_CASE(test_log_cuts_values_at_character_boundaries),
        T_CASE(test_integers_parse_strictly_within_bounds),
        T_CASE(test_every_error_maps_to_a_status_and_code),
        T_CASE(test_decimal_text_of_every_int64_edge),
        T_CASE(test_crypto_primitives_match_known_answers),
    };
    return t_main(cases, T_COUNT(cases), argc, argv);
}
