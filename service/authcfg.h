/* kvsgate: the issuers in force (`authcfg_`, `authwatch_`).
 *
 * An authcfg is one reading of the auth settings: the verifier's options
 * built from the policy file (KVSGATE_POLICY_FILE) or, without one, from the
 * KVSGATE_JWT_* settings, with the strings and secrets they point at, and the
 * identity (device, inode, size, modification and change times) of every
 * file it read or names: the policy file, PEM key files, secret files.
 *
 * The watcher (one thread) checks those identities every
 * KVSGATE_AUTH_WATCH_MS and reloads when one changed, or at once when asked
 * (SIGHUP): a new reading, then jwtv_reload, which swaps atomically or keeps
 * the running generation. Every attempt is logged (auth_reloaded with the
 * generation, or auth_reload_refused with why) and counted
 * (kvsgate_auth_reloads_total{outcome}); kvsgate_auth_policy_generation says
 * which generation serves. A refused reading is not retried until a file
 * changes again or SIGHUP comes, so a broken file logs once, not every tick.
 */
#ifndef KG_SERVICE_AUTHCFG_H
#define KG_SERVICE_AUTHCFG_H

#include <stddef.h>

#include "auth/jwt.h"
#include "core/err.h"
#include "core/http.h"
#include "service/config.h"

struct authcfg;

/* Reads the auth settings of cfg (the policy file and the secret files, or
 * the HS256 secret setting again) into *out. http goes into the options (the
 * JWKS fetches). KG_ERR_BAD_REQUEST with one line in why naming the setting
 * or the file and where in it; never a secret's content. */
KG_WARN_UNUSED enum kg_err authcfg_load(const struct kg_config *cfg, struct kg_http_client *http,
                                        struct authcfg **out, char *why, size_t why_len);
/* The verifier's options, valid as long as a. */
const struct jwtv_options *authcfg_options(const struct authcfg *a);
/* The number of files it watches (for the startup line). */
size_t authcfg_file_count(const struct authcfg *a);
/* Wipes the secrets and frees. */
void authcfg_free(struct authcfg *a);

struct authwatch;

/* Starts the watcher over v, which was built from initial (taken: freed by
 * authwatch_stop or replaced by a later reading). cfg and http must outlive
 * the watcher. Never fails (aborts when no thread can be made). */
struct authwatch *authwatch_start(const struct kg_config *cfg, struct kg_http_client *http,
                                  struct jwtv *v, struct authcfg *initial);
/* Asks for a reload now (SIGHUP); returns at once. Thread-safe. */
void authwatch_reload_now(struct authwatch *w);
/* Stops and joins the watcher; frees the reading in force. NULL is a no-op. */
void authwatch_stop(struct authwatch *w);

#endif
