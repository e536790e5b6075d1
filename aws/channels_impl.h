/* kvsgate: internals of aws/channels.c shared with aws/channels_values.c and
 * the tests: the compact values the caches hold, and their encoding for the
 * replicas' shared cache (aws/shared.h).
 */
#ifndef KG_AWS_CHANNELS_IMPL_H
#define KG_AWS_CHANNELS_IMPL_H

#include <stddef.h>

#include "aws/channels.h"
#include "aws/kvs.h"
#include "aws/shared.h"

/* Strings copied one after the other into the tail of a value's allocation. */
struct packer {
    char *next;
};
const char *channels_pack(struct packer *p, const char *s);

void channels_free_plain(void *v);
void channels_free_ice(void *v); /* wipes the TURN passwords */

/* One allocation each, strings sized to fit (channels.h). */
struct channels_channel *channels_channel_compact(const struct kvs_channel *c);
struct channels_list *channels_list_compact(const struct kvs_channel_page *page);
struct channels_endpoints *channels_endpoints_compact(const struct kvs_endpoints *e);
struct channels_storage *channels_storage_compact(const struct kvs_media_storage *m);
struct channels_webrtc *channels_webrtc_compact(const char *url);
/* expires_at_s is left 0: the caller sets it. */
struct channels_ice *channels_ice_compact(const struct kvs_ice_config *cfg);

/* A compact value of kind as JSON for the shared cache: malloc'ed, *len
 * bytes (secret for SHARED_ICE: the caller wipes it). NULL when it cannot. */
char *channels_value_encode(enum shared_kind kind, const void *value, size_t *len);
/* The compact value of kind from its JSON, read strictly (types, bounds,
 * members); NULL when the text does not fit. */
void *channels_value_decode(enum shared_kind kind, const char *json, size_t len);
/* Frees a value of kind. */
void channels_value_free(enum shared_kind kind, void *value);

#endif
