/* kvsgate: allocation that never returns NULL.
 *
 * A daemon that runs out of memory cannot answer sensibly, so, like redis, we
 * abort with a message instead of threading ENOMEM through every caller.
 */
#ifndef KG_CORE_MEM_H
#define KG_CORE_MEM_H

#include <stddef.h>

void *kg_malloc(size_t n);
void *kg_calloc(size_t count, size_t size);
void *kg_realloc(void *p, size_t n);
char *kg_strdup(const char *s);
char *kg_strndup(const char *s, size_t n);

/* Overwrites n bytes at p with zeros in a way the compiler keeps
 * (explicit_bzero: glibc's vectorised memset behind a compiler barrier; the
 * same guarantee as OPENSSL_cleanse, whose x86-64 loop stores 8 bytes a turn
 * and was 1.5% of a warm request's CPU wiping its secret buffers). */
void kg_wipe(void *p, size_t n);

/* Wipes the NUL-terminated string s (when not NULL), then frees it. */
void kg_free_secret(char *s);

#endif
