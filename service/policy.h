/* kvsgate: the policy file (`policy_`): the trusted issuers, their keys, how
 * their tokens name their audience, and the rules that turn their claims
 * into grants. KVSGATE_POLICY_FILE names it; JSON or YAML (libyaml is
 * included here and nowhere else). docs/identity-providers.md documents the
 * format with one example per identity provider:
 *
 *   version: 1
 *   issuers:
 *     - name: cognito                       # [a-z0-9-]{1,32}, unique
 *       issuer: https://cognito-idp.us-west-2.amazonaws.com/us-west-2_EXAMPLE
 *       discovery: true                     # or jwksUrl, publicKeyFiles, hs256SecretFile
 *       audience: {clientId: [1example23456789]}   # aud, clientId, azp; or "any"
 *       tokenUse: access                    # Cognito: access or id
 *       scopePrefix: "https://kvsgate.example.com/"
 *       scopeClaims: [scope]                # default [scope, scp]
 *       grantsClaim: kvs                    # default kvs; "" for none
 *       rules:
 *         - claim: cognito:groups           # or a path: [realm_access, roles]
 *           equals: operators               # or none: each value as {value}
 *           grant: {manage: ["*"], manageAny: true}
 *
 * Every error names the file and either the line and column (syntax) or the
 * JSON path of what is wrong ("issuers[1].audience.clientId: ..."). A file
 * read once is immutable; a reload reads a new one.
 */
#ifndef KG_SERVICE_POLICY_H
#define KG_SERVICE_POLICY_H

#include <stddef.h>

#include "auth/jwt.h"
#include "core/err.h"

#define POLICY_FILE_MAX (1024 * 1024)
#define POLICY_FILES_MAX 64 /* files it names (keys, secrets), watched for changes */

struct policy_file;

/* Reads and validates path. KG_ERR_BAD_REQUEST with one line in why naming
 * the file and the line or path (never a secret's content). */
KG_WARN_UNUSED enum kg_err policy_file_load(const char *path, struct policy_file **out, char *why,
                                            size_t why_len);
/* The same from text (name: how errors call it), reading no file: the files
 * it names are only recorded (hs256SecretFile is read by policy_file_load,
 * PEM files by the verifier). The fuzz target's entry. */
KG_WARN_UNUSED enum kg_err policy_parse(const char *text, size_t len, const char *name,
                                        struct policy_file **out, char *why, size_t why_len);
/* The issuers, valid as long as p. */
const struct jwtv_issuer *policy_issuers(const struct policy_file *p, size_t *count);
/* The files p names (PEM keys, secrets), for the reloader to watch. */
const char *const *policy_named_files(const struct policy_file *p, size_t *count);
/* Wipes the secrets it read and frees everything. */
void policy_file_free(struct policy_file *p);

#endif
