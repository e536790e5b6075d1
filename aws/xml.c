#include "aws/xml.h"

#include <string.h>

static int xml_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.' || c == ':';
}

static int xml_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

enum kg_err xml_check(const char *xml, size_t len)
{
    if (memchr(xml, '\0', len))
        return KG_ERR_BAD_REQUEST;
    for (size_t i = 0; i + 1 < len; i++) {
        if (xml[i] != '<')
            continue;
        if (xml[i + 1] == '!')
            return KG_ERR_BAD_REQUEST; /* comment, CDATA, DOCTYPE */
        if (xml[i + 1] == '?') {
            /* Only a leading declaration, after optional whitespace. */
            for (size_t j = 0; j < i; j++)
                if (!xml_space(xml[j]))
                    return KG_ERR_BAD_REQUEST;
            if (len - i < 5 || memcmp(xml + i, "<?xml", 5) != 0)
                return KG_ERR_BAD_REQUEST;
        }
    }
    return KG_OK;
}

/* The start tag of `name` at p (p[0] == '<')? Returns the index just past '>'
 * (and *self_closing) or 0. */
static size_t xml_start_tag(const char *p, size_t avail, const char *name, size_t nlen,
                            int *self_closing)
{
    if (avail < nlen + 2 || memcmp(p + 1, name, nlen) != 0)
        return 0;
    char after = p[1 + nlen];
    if (after != '>' && after != '/' && !xml_space(after))
        return 0;
    const char *gt = memchr(p + 1 + nlen, '>', avail - 1 - nlen);
    if (!gt)
        return 0;
    /* Attributes may not hold '<'. */
    if (memchr(p + 1, '<', (size_t)(gt - p - 1)))
        return 0;
    *self_closing = gt[-1] == '/';
    return (size_t)(gt - p) + 1;
}

int xml_find(const char *xml, size_t len, const char *name, const char **content,
             size_t *content_len)
{
    size_t nlen = strlen(name);
    int count = 0;
    size_t i = 0;
    *content = NULL;
    *content_len = 0;
    while (i < len) {
        const char *lt = memchr(xml + i, '<', len - i);
        if (!lt)
            break;
        size_t at = (size_t)(lt - xml);
        int self_closing = 0;
        size_t tag = xml_start_tag(lt, len - at, name, nlen, &self_closing);
        if (!tag) {
            i = at + 1;
            continue;
        }
        size_t body = at + tag;
        size_t end = body;
        if (!self_closing) {
            /* The first "</name>" after the start tag. */
            size_t j = body;
            int found = 0;
            while (j + nlen + 3 <= len) {
                const char *c = memchr(xml + j, '<', len - j);
                if (!c)
                    break;
                size_t k = (size_t)(c - xml);
                if (k + nlen + 3 <= len && c[1] == '/' && memcmp(c + 2, name, nlen) == 0 &&
                    c[2 + nlen] == '>') {
                    end = k;
                    found = 1;
                    break;
                }
                j = k + 1;
            }
            if (!found)
                break; /* unterminated: not counted */
        }
        if (count == 0) {
            *content = xml + body;
            *content_len = end - body;
        }
        count++;
        i = self_closing ? body : end + nlen + 3;
    }
    return count;
}

enum kg_err xml_root_name(const char *xml, size_t len, char *out, size_t cap)
{
    size_t i = 0;
    while (i < len && xml_space(xml[i]))
        i++;
    if (i + 5 <= len && memcmp(xml + i, "<?xml", 5) == 0) {
        const char *end = NULL;
        for (size_t j = i; j + 1 < len; j++)
            if (xml[j] == '?' && xml[j + 1] == '>') {
                end = xml + j + 2;
                break;
            }
        if (!end)
            return KG_ERR_BAD_REQUEST;
        i = (size_t)(end - xml);
        while (i < len && xml_space(xml[i]))
            i++;
    }
    if (i >= len || xml[i] != '<')
        return KG_ERR_BAD_REQUEST;
    i++;
    size_t n = 0;
    while (i + n < len && xml_name_char(xml[i + n]))
        n++;
    if (n == 0 || n + 1 > cap || i + n >= len)
        return KG_ERR_BAD_REQUEST;
    char after = xml[i + n];
    if (after != '>' && after != '/' && !xml_space(after))
        return KG_ERR_BAD_REQUEST;
    memcpy(out, xml + i, n);
    out[n] = '\0';
    return KG_OK;
}

enum kg_err xml_text(const char *s, size_t n, struct kg_buf *out)
{
    while (n && xml_space(*s)) {
        s++;
        n--;
    }
    while (n && xml_space(s[n - 1]))
        n--;
    if (memchr(s, '<', n) || memchr(s, '>', n))
        return KG_ERR_BAD_REQUEST;
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    size_t i = 0;
    while (i < n) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t run = amp ? (size_t)(amp - s) - i : n - i;
        enum kg_err err = kg_buf_append(out, s + i, run);
        if (err != KG_OK)
            return err;
        i += run;
        if (!amp)
            break;
        const char *semi = memchr(s + i, ';', n - i < 8 ? n - i : 8);
        if (!semi)
            return KG_ERR_BAD_REQUEST;
        size_t elen = (size_t)(semi - (s + i)) + 1;
        int decoded = -1;
        for (size_t k = 0; k < sizeof ents / sizeof ents[0]; k++)
            if (strlen(ents[k].ent) == elen && memcmp(s + i, ents[k].ent, elen) == 0)
                decoded = (unsigned char)ents[k].c;
        if (decoded < 0 && elen >= 4 && s[i + 1] == '#') {
            /* &#NN; or &#xNN; limited to printable ASCII. */
            int v = 0, hex = s[i + 2] == 'x';
            size_t k = i + 2 + (size_t)hex;
            if (k == i + elen - 1)
                return KG_ERR_BAD_REQUEST;
            for (; k < i + elen - 1; k++) {
                char c = s[k];
                int d = c >= '0' && c <= '9'   ? c - '0'
                        : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                      : -1;
                if (d < 0)
                    return KG_ERR_BAD_REQUEST;
                v = v * (hex ? 16 : 10) + d;
            }
            if (v < 0x20 || v > 0x7e)
                return KG_ERR_BAD_REQUEST;
            decoded = v;
        }
        if (decoded < 0)
            return KG_ERR_BAD_REQUEST;
        err = kg_buf_append_char(out, (char)decoded);
        if (err != KG_OK)
            return err;
        i += elen;
    }
    return KG_OK;
}
