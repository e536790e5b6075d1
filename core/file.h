/* kvsgate: small files read whole (`kg_file_read`): secrets, PEM keys, TLS
 * certificates, token files. One reader, bounded by the buffer it fills. */
#ifndef KG_CORE_FILE_H
#define KG_CORE_FILE_H

#include "core/buf.h"
#include "core/err.h"

/* Appends the whole file at path to out. out's maximum bounds it: a longer
 * file fails with KG_ERR_PAYLOAD_TOO_LARGE and out as it was (give a secret
 * buffer for secrets: what it lets go of is wiped). A file that cannot be
 * opened or read fails with KG_ERR_BAD_REQUEST and errno set. */
KG_WARN_UNUSED enum kg_err kg_file_read(const char *path, struct kg_buf *out);

#endif
