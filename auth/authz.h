/* kvsgate: authorization decisions (the `authz_` policy) and the viewer
 * client-id rule.
 *
 * Client ids: a `sub` made only of [a-zA-Z0-9_-] (no '.'), 1..128 bytes, not
 * starting with '_' or with AWS_ (any case) is its own client id; any other
 * `sub` maps to "_" + the first 40 hex digits of SHA-256(sub). Derived ids
 * therefore never contain '.', and ids starting with '_' are always hashes, so
 * no subject can be chosen to collide with another's id. A viewer may ask for
 * "<derived>.<suffix>" (suffix 1..64 of [a-zA-Z0-9_.-]) for one more tab or
 * device; any other id is refused unless the token grants anyClientId.
 */
#ifndef KG_AUTH_AUTHZ_H
#define KG_AUTH_AUTHZ_H

#include "auth/principal.h"
#include "core/err.h"

/* Writes the client id derived from sub. */
void auth_derive_client_id(const char *sub, char out[AUTH_CLIENT_ID_MAX + 1]);

/* The value of a channel's kvsgate:owner tag for this subject: the sub itself
 * when it is 1..256 bytes of KVS's ASCII tag characters (letters, digits,
 * space, _.:/=+-@) and does not start with '_'; else '_' + 40 hex digits of
 * SHA-256(sub). Raw values never start with '_' and hashed ones always do, so
 * two subjects never share an owner value. */
void auth_owner_id(const char *sub, char out[AUTH_OWNER_ID_MAX + 1]);

/* A subject of a secondary issuer (not the first of the policy): '_' + 40 hex
 * digits of SHA-256(iss "\n" sub), its client id and its owner value both. A
 * sub never holds '\n', so this never equals the hash of a primary subject;
 * it starts with '_', so it never equals a raw id or owner value. */
void auth_qualified_id(const char *iss, const char *sub, char out[AUTH_CLIENT_ID_MAX + 1]);

/* 1 when the sub is one kvsgate accepts: 1..AUTH_SUB_MAX_LEN bytes, no C0
 * control character, no DEL and no C1 control (U+0080..U+009F). The caller has
 * already checked it is UTF-8 (jansson refuses the rest). */
int auth_sub_acceptable(const char *sub, size_t len);

/* True when a pattern of perm matches channel (exact, or prefix before '*'). */
int authz_allows(const struct auth_principal *p, enum authz_perm perm, const char *channel);
/* Describe is allowed to any of manage, master, viewer. */
int authz_can_describe(const struct auth_principal *p, const char *channel);

/* The viewer client id to sign: requested NULL -> the derived id; else it must
 * be the derived id, derived + "." + suffix, or (anyClientId) any valid KVS
 * client id. Errors: KG_ERR_INVALID_CLIENT_ID (not a valid KVS client id),
 * KG_ERR_FORBIDDEN (someone else's). */
KG_WARN_UNUSED enum kg_err authz_viewer_client_id(const struct auth_principal *p,
                                                  const char *requested,
                                                  char out[AUTH_CLIENT_ID_MAX + 1]);

/* Parses one grant pattern ("cam-*", "user-{sub}.*", "lobby") and substitutes
 * {sub} with client_id. KG_ERR_BAD_REQUEST when the result is not a channel
 * name or prefix, or when the pattern could reach another subject's names.
 *
 * The {sub} boundary: a pattern that ends in '*' must follow every {sub} with
 * '.', the one name character a derived client id never holds. Then the '.'
 * closes the id: "user-{sub}.*" gives bob "user-bob.*", which no name of
 * bob-smith's ("user-bob-smith.*") matches, whatever the two ids are. Without
 * the '.' ("user-{sub}-*", "{sub}*") one id could be the start of another's
 * and the grant would reach it, so such patterns are refused. A pattern
 * without '*' names exactly one channel per subject and is safe as it is
 * ("user-{sub}-cam"). */
KG_WARN_UNUSED enum kg_err authz_pattern_expand(const char *pattern, const char *client_id,
                                                char **out);
/* The same with a second placeholder, {value}: value_id, a claim value made
 * an id (auth_derive_client_id of the value: no '.'), under the same boundary
 * rule. NULL value_id: a pattern with {value} is refused. */
KG_WARN_UNUSED enum kg_err authz_pattern_expand_with(const char *pattern, const char *client_id,
                                                     const char *value_id, char **out);

#endif
