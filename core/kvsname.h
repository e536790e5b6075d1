/* kvsgate: the names and ids KVS accepts (`kg_kvs_`), in one place for the
 * KVS client, the authorization rules and the API.
 *
 *   channel name  1..256 of [a-zA-Z0-9_.-]        (CreateSignalingChannel)
 *   client id     the same, and never AWS_ (KVS reserves it; any case refused)
 *   region        1..32 of [a-z0-9-]              ("us-west-2")
 *   tag text      letters, digits, space, _.:/=+-@ (TagResource)
 *
 * Dependency-free: no allocation, no library.
 */
#ifndef KG_CORE_KVSNAME_H
#define KG_CORE_KVSNAME_H

#define KG_KVS_NAME_MAX 256
#define KG_KVS_CLIENT_ID_MAX 256
#define KG_KVS_REGION_MAX 32

/* One byte of a channel name or client id: [a-zA-Z0-9_.-]. */
int kg_kvs_name_char(unsigned char c);
/* s starts with "AWS_" in any case (KVS reserves such client ids). */
int kg_kvs_aws_prefixed(const char *s);
int kg_kvs_channel_name_valid(const char *name);
int kg_kvs_client_id_valid(const char *client_id);
int kg_kvs_region_valid(const char *region);
/* 0..max bytes of KVS's token alphabet [a-zA-Z0-9+/=] (NextToken, the
 * channel version). */
int kg_kvs_token_valid(const char *s, unsigned max);
#define KG_KVS_NEXT_TOKEN_MAX 512

/* An ASCII byte of KVS's tag keys and values: letters, digits, space and
 * _.:/=+-@ (KVS also takes Unicode letters, which callers judge themselves). */
int kg_kvs_tag_ascii_char(unsigned char c);

#endif
