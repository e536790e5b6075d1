#include "testlib.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int t_failures;

void t_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    t_failures++;
}

int t_memeq(const char *file, int line, const char *what, const void *got, size_t got_len,
            const void *want, size_t want_len)
{
    if (!got || !want) {
        if (got != want) {
            t_fail(file, line, "%s: one side is NULL", what);
            return 0;
        }
        return 1;
    }
    if (got_len == want_len && memcmp(got, want, got_len) == 0)
        return 1;
    size_t i = 0;
    const unsigned char *g = got, *w = want;
    while (i < got_len && i < want_len && g[i] == w[i])
        i++;
    t_fail(file, line, "%s differs at byte %zu (got %zu bytes, want %zu)\n    got:  %.*s\n    want: %.*s",
           what, i, got_len, want_len, (int)got_len, (const char *)got, (int)want_len,
           (const char *)want);
    return 0;
}

int t_streq(const char *file, int line, const char *what, const char *got, const char *want)
{
    if (!got || !want) {
        if (got != want) {
            t_fail(file, line, "%s: got %s, want %s", what, got ? got : "NULL",
                   want ? want : "NULL");
            return 0;
        }
        return 1;
    }
    return t_memeq(file, line, what, got, strlen(got), want, strlen(want));
}

char *t_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *data = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            data = realloc(data, cap);
        }
        size_t r = fread(data + n, 1, cap - n - 1, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    data[n] = '\0';
    if (len)
        *len = n;
    return data;
}

int t_main(const struct t_case *cases, size_t count, int argc, char **argv)
{
    int ran = 0, failed = 0;
    for (size_t i = 0; i < count; i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        int before = t_failures;
        cases[i].fn();
        ran++;
        int ok = t_failures == before;
        if (!ok)
            failed++;
        printf("%s %s\n", ok ? "ok  " : "FAIL", cases[i].name);
    }
    if (argc > 1 && ran == 0) {
        fprintf(stderr, "no test named %s\n", argv[1]);
        return 1;
    }
    printf("%d of %d cases passed\n", ran - failed, ran);
    return failed ? 1 : 0;
}

char *t_temp_file(const char *text)
{
    char tmpl[] = "/tmp/kvsgate-test-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0)
        abort();
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n)
        abort();
    close(fd);
    return strdup(tmpl);
}
