#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void mem_oom(size_t n)
{
    fprintf(stderr, "{\"level\":\"fatal\",\"event\":\"out_of_memory\",\"bytes\":%zu}\n", n);
    abort();
}

void *kg_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        mem_oom(n);
    return p;
}

void *kg_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        mem_oom(count * size);
    return p;
}

void *kg_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        mem_oom(n);
    return q;
}

char *kg_strndup(const char *s, size_t n)
{
    char *d = kg_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *kg_strdup(const char *s) { return kg_strndup(s, strlen(s)); }

void kg_wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

void kg_free_secret(char *s)
{
    if (!s)
        return;
    kg_wipe(s, strlen(s));
    free(s);
}
