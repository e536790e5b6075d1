#include "core/hash.h"

#include <pthread.h>
#include <string.h>

#include "core/crypto.h"
#include "core/timeutil.h"

#define K_MUL 0x9E3779B97F4A7C15ULL /* 2^64 / the golden ratio, odd */

static uint64_t step(uint64_t h, uint64_t w)
{
    h = (h ^ w) * K_MUL;
    return h ^ (h >> 29);
}

/* murmur3's fmix64: every input bit reaches every output bit. */
static uint64_t finish(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

uint64_t kg_hash_bytes(uint64_t seed, const void *p, size_t n)
{
    const unsigned char *u = p;
    uint64_t h = step(seed, (uint64_t)n);
    for (; n >= 8; u += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, u, 8);
        h = step(h, w);
    }
    uint64_t tail = 0;
    memcpy(&tail, u, n); /* n < 8 */
    return finish(step(h, tail));
}

uint64_t kg_hash_str(uint64_t seed, const char *s) { return kg_hash_bytes(seed, s, strlen(s)); }

static uint64_t process_seed;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void seed_init(void)
{
    uint64_t s;
    if (kg_random_bytes(&s, sizeof s) != KG_OK) /* no entropy: still differs per start */
        s = finish((uint64_t)kg_mono_us() ^ ((uint64_t)(uintptr_t)&s << 16));
    process_seed = s;
}

uint64_t kg_hash_seed(void)
{
    pthread_once(&seed_once, seed_init);
    return process_seed;
}
