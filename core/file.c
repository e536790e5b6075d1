#include "core/file.h"

#include <errno.h>
#include <stdio.h>

#include "core/mem.h"

enum kg_err kg_file_read(const char *path, struct kg_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return KG_ERR_BAD_REQUEST;
    size_t start = out->len;
    enum kg_err err = KG_OK;
    char chunk[4096];
    size_t n;
    while (err == KG_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        err = kg_buf_append(out, chunk, n);
    kg_wipe(chunk, sizeof chunk);
    if (err == KG_OK && ferror(f)) {
        err = KG_ERR_BAD_REQUEST;
        errno = EIO;
    }
    fclose(f);
    if (err != KG_OK)
        kg_buf_truncate(out, start);
    return err;
}
