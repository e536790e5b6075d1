/* libFuzzer target: the log line writer (core/log.c), the writer that every
 * access line and event goes through with values a caller influences (sub,
 * channel, path, detail, AWS error types). Issue 13: a valid token whose sub
 * was 700 U+0001 wrapped the line's room and wrote past the stack buffer.
 *
 * Input: selector bytes, one per field (kind: string, int, bool, null), then
 * the fields' values separated by 0x1F; up to 48 fields in one line.
 *
 * Invariants: exactly one line comes out, at most KG_LOG_LINE_MAX bytes with
 * its newline; it is one JSON object (jansson, UTF-8 checked); a line that is
 * not marked "truncated" holds every field, and then every string value that
 * was valid UTF-8 reads back byte for byte and every int as given. */
#include <fcntl.h>
#include <jansson.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

#include "core/encode.h"
#include "core/log.h"

#define FIELDS_MAX 48

static int log_pipe[2] = {-1, -1};

static void setup(void)
{
    if (log_pipe[0] >= 0)
        return;
    if (pipe(log_pipe) != 0 || fcntl(log_pipe[0], F_SETFL, O_NONBLOCK) != 0)
        abort();
    kg_log_set_fd(log_pipe[1]);
    kg_log_set_level(KG_LOG_DEBUG);
}

static int64_t int_of(const char *s, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && i < 8; i++)
        v = v << 8 | (unsigned char)s[i];
    return (int64_t)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    size_t kinds_n = 0;
    unsigned kinds[FIELDS_MAX];
    while (kinds_n < FIELDS_MAX && size && data[0] != FUZZ_SEP) {
        kinds[kinds_n++] = data[0] & 3;
        data++;
        size--;
    }
    if (size && data[0] == FUZZ_SEP) {
        data++;
        size--;
    }
    struct fuzz_in in = {(const char *)data, size};
    const char *values[FIELDS_MAX];
    size_t lens[FIELDS_MAX];
    char key[FIELDS_MAX][8];
    struct kg_log_line l;
    FUZZ_CHECK(kg_log_begin(&l, KG_LOG_INFO, "fuzz"));
    for (size_t i = 0; i < kinds_n; i++) {
        if (!fuzz_field(&in, &values[i], &lens[i])) {
            values[i] = "";
            lens[i] = 0;
        }
        snprintf(key[i], sizeof key[i], "f%zu", i);
        switch (kinds[i]) {
        case 0:
            kg_log_strn(&l, key[i], values[i], lens[i]);
            break;
        case 1:
            kg_log_int(&l, key[i], int_of(values[i], lens[i]));
            break;
        case 2:
            kg_log_bool(&l, key[i], lens[i] & 1);
            break;
        default:
            kg_log_null(&l, key[i]);
            break;
        }
    }
    kg_log_end(&l);

    static char out[2 * KG_LOG_LINE_MAX];
    ssize_t n = read(log_pipe[0], out, sizeof out);
    FUZZ_CHECK(n > 0 && (size_t)n <= KG_LOG_LINE_MAX);
    FUZZ_CHECK(out[n - 1] == '\n' && memchr(out, '\n', (size_t)n) == out + n - 1);
    json_error_t e;
    json_t *line = json_loadb(out, (size_t)n - 1, JSON_ALLOW_NUL, &e);
    if (!line)
        fprintf(stderr, "not JSON (%s): %.*s\n", e.text, (int)n, out);
    FUZZ_CHECK(line && json_is_object(line));
    if (!json_is_true(json_object_get(line, "truncated"))) {
        for (size_t i = 0; i < kinds_n; i++) {
            json_t *v = json_object_get(line, key[i]);
            FUZZ_CHECK(v != NULL);
            if (kinds[i] == 0 && kg_utf8_valid(values[i], lens[i]))
                FUZZ_CHECK(json_is_string(v) && json_string_length(v) == lens[i] &&
                           memcmp(json_string_value(v), values[i], lens[i]) == 0);
            if (kinds[i] == 1)
                FUZZ_CHECK(json_is_integer(v) &&
                           json_integer_value(v) == int_of(values[i], lens[i]));
        }
    }
    json_decref(line);
    return 0;
}
