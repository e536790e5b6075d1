/* kvsgate: a small test harness for the C unit tests.
 *
 *     static void test_buf_grows(void) { T_CHECK(...); T_STREQ(a, b); }
 *     static const struct t_case cases[] = {T_CASE(test_buf_grows), ...};
 *     int main(int argc, char **argv) { return t_main(cases, T_COUNT(cases), argc, argv); }
 *
 * Each failed check prints file:line and what differed, and the case goes on
 * (so one run shows every difference). A program exits 1 when any check failed.
 * `prog NAME` runs one case.
 */
#ifndef KG_TESTS_TESTLIB_H
#define KG_TESTS_TESTLIB_H

#include <stddef.h>
#include <stdint.h>

struct t_case {
    const char *name;
    void (*fn)(void);
};

#define T_CASE(fn) {#fn, fn}
#define T_COUNT(a) (sizeof(a) / sizeof((a)[0]))

extern int t_failures;

void t_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int t_streq(const char *file, int line, const char *what, const char *got, const char *want);
int t_memeq(const char *file, int line, const char *what, const void *got, size_t got_len,
            const void *want, size_t want_len);
int t_main(const struct t_case *cases, size_t count, int argc, char **argv);

/* A new file under /tmp holding text; its path (free() it, unlink() the file). */
char *t_temp_file(const char *text);

/* Reads a whole file; NULL on error. *len gets the size. Free with free(). */
char *t_read_file(const char *path, size_t *len);

#define T_CHECK(cond)                                                                           \
    do {                                                                                        \
        if (!(cond))                                                                            \
            t_fail(__FILE__, __LINE__, "check failed: %s", #cond);                              \
    } while (0)

#define T_STREQ(got, want) t_streq(__FILE__, __LINE__, #got, (got), (want))
#define T_MEMEQ(got, glen, want, wlen) t_memeq(__FILE__, __LINE__, #got, (got), (glen), (want), (wlen))

#define T_INTEQ(got, want)                                                                      \
    do {                                                                                        \
        long long t_g = (long long)(got), t_w = (long long)(want);                              \
        if (t_g != t_w)                                                                         \
            t_fail(__FILE__, __LINE__, "%s: got %lld, want %lld", #got, t_g, t_w);              \
    } while (0)

#endif
