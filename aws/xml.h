/* kvsgate: a minimal, strict, bounded reader for the small XML documents AWS
 * answers with (STS results and errors, the odd XML error of a JSON service).
 *
 * Not an XML parser: it finds elements by exact name and reads leaf text. It
 * refuses what it does not understand instead of guessing: comments, CDATA,
 * DOCTYPE and processing instructions other than a leading <?xml ...?>, and
 * entities other than the five predefined ones and numeric ASCII references.
 * Names are compared exactly (no namespace prefixes; attributes such as xmlns
 * are skipped).
 */
#ifndef KG_AWS_XML_H
#define KG_AWS_XML_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* Rejects documents with constructs this reader does not handle (see above) or
 * with a NUL byte. KG_OK when the bytes may be searched. */
KG_WARN_UNUSED enum kg_err xml_check(const char *xml, size_t len);

/* Finds the first element `name` in xml[0..len) (at any depth) and returns its
 * content, between the end of its start tag and the start of the first
 * following </name>. A self-closing <name/> has empty content. Returns the
 * number of elements of that name at the same search (0: absent), so callers
 * can insist on exactly one. */
int xml_find(const char *xml, size_t len, const char *name, const char **content,
             size_t *content_len);

/* The name of the document's root element (after an optional <?xml?>), copied
 * into out (cap bytes). KG_ERR_BAD_REQUEST when there is none or it is longer. */
KG_WARN_UNUSED enum kg_err xml_root_name(const char *xml, size_t len, char *out, size_t cap);

/* Leaf text: content without child elements, surrounding whitespace trimmed,
 * entities decoded, appended to out (bounded by out's maximum).
 * KG_ERR_BAD_REQUEST for markup or a bad entity; KG_ERR_PAYLOAD_TOO_LARGE past
 * out's maximum. */
KG_WARN_UNUSED enum kg_err xml_text(const char *content, size_t len, struct kg_buf *out);

#endif
