/* kvsgate: the hash of the in-process tables (caches, rate limits, budgets,
 * metric series): where an entry is looked for, never what proves it is the
 * one (the table compares the key itself).
 *
 * Eight bytes a step (FNV-1a's byte a step was most of a warm cache lookup's
 * time on a 150-byte key), the length and a seed mixed in, a 64-bit finalizer.
 * Not a MAC: with a per-process random seed (kg_hash_seed) an outsider who
 * picks the keys (channel names, subjects, addresses) cannot aim them at one
 * bucket offline; a table whose order must repeat between runs (metrics) uses
 * a fixed seed.
 */
#ifndef KG_CORE_HASH_H
#define KG_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t kg_hash_bytes(uint64_t seed, const void *p, size_t n);
uint64_t kg_hash_str(uint64_t seed, const char *s);
/* A random seed, the same for every caller in this process. */
uint64_t kg_hash_seed(void);

#endif
