/* libFuzzer target: the bounded XML reader (aws/xml.c).
 *
 * Input:  element name \x1f document
 * (the name is cut to 64 bytes; an empty one becomes "Code").
 *
 * Invariants: a found element's content lies inside the document, after the
 * start tag, and is followed by "</name>" unless the element was
 * self-closing; the count is 0 exactly when nothing was found; the root name is
 * made of name characters; leaf text never holds '<' or '>' unless decoded
 * from an entity, never passes its buffer's bound, and decoding the text of
 * a plain run (no '&') gives the run back, trimmed.
 */
#include "tests/fuzz/fuzz.h"

#include "aws/xml.h"
#include "core/buf.h"

static int xml_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.' || c == ':';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {(const char *)data, size};
    const char *name_raw, *doc;
    size_t name_len = 0, len = 0;
    if (!fuzz_field(&in, &name_raw, &name_len))
        return 0;
    if (!fuzz_field(&in, &doc, &len)) {
        doc = "";
        len = 0;
    }
    char name[65];
    if (name_len > 64)
        name_len = 64;
    memcpy(name, name_raw, name_len);
    name[name_len] = '\0';
    if (!name[0])
        strcpy(name, "Code");
    size_t nlen = strlen(name);

    /* A private copy, so that reading past len is an ASan error. */
    char *xml = malloc(len ? len : 1);
    memcpy(xml, doc, len);

    (void)xml_check(xml, len);

    const char *content = (const char *)1;
    size_t clen = 12345;
    int count = xml_find(xml, len, name, &content, &clen);
    FUZZ_CHECK(count >= 0);
    if (count == 0) {
        FUZZ_CHECK(content == NULL && clen == 0);
    } else {
        FUZZ_CHECK(content > xml && content + clen <= xml + len);
        FUZZ_CHECK(content[-1] == '>');
        size_t after = (size_t)(content - xml) + clen;
        int self_closing = content[-2] == '/' && clen == 0;
        if (!self_closing) {
            FUZZ_CHECK(after + nlen + 3 <= len);
            FUZZ_CHECK(xml[after] == '<' && xml[after + 1] == '/' &&
                       memcmp(xml + after + 2, name, nlen) == 0 && xml[after + 2 + nlen] == '>');
        }
        struct kg_buf text;
        kg_buf_init(&text, 256);
        enum kg_err err = xml_text(content, clen, &text);
        FUZZ_CHECK(err == KG_OK || err == KG_ERR_BAD_REQUEST || err == KG_ERR_PAYLOAD_TOO_LARGE);
        FUZZ_CHECK(text.len <= 256);
        if (err == KG_OK && !memchr(content, '&', clen) && !memchr(content, '\0', clen)) {
            /* No entities: the text is the trimmed content itself. */
            FUZZ_CHECK(!memchr(text.data, '<', text.len) && !memchr(text.data, '>', text.len));
            FUZZ_CHECK(text.len <= clen);
            FUZZ_CHECK(memmem(content, clen, text.data, text.len) != NULL);
        }
        kg_buf_free(&text);
    }

    char root[32];
    memset(root, 'x', sizeof root);
    if (xml_root_name(xml, len, root, sizeof root) == KG_OK) {
        FUZZ_CHECK(memchr(root, '\0', sizeof root) && root[0]);
        for (const char *p = root; *p; p++)
            FUZZ_CHECK(xml_name_char(*p));
    }

    /* xml_text on the raw document too (it is what error readers do with leaves). */
    char storage[65];
    struct kg_buf fixed;
    kg_buf_init_fixed(&fixed, storage, sizeof storage);
    (void)xml_text(xml, len, &fixed);
    FUZZ_CHECK(fixed.len <= 64);
    free(xml);
    return 0;
}
