/* kvsgate: byte encodings: hex, RFC 3986 percent-encoding, base64 and base64url,
 * JSON strings, UTF-8 validation.
 *
 * Decoders are strict: anything outside the alphabet, bad padding or non-zero
 * trailing bits fail. libjwt's decoder skips junk, which lets one signature be
 * written many ways; ours does not.
 */
#ifndef KG_CORE_ENCODE_H
#define KG_CORE_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* The designators of a 256-entry lookup table that marks the ASCII digits and
 * letters: X(c) is applied to each, e.g. `#define X(c) [c] = 1`. The one list
 * behind every character class table (URI unreserved, HTTP token). */
#define KG_ALNUM_DESIGNATORS(X) \
    X('0'), X('1'), X('2'), X('3'), X('4'), X('5'), X('6'), X('7'), X('8'), X('9'), X('A'), \
    X('B'), X('C'), X('D'), X('E'), X('F'), X('G'), X('H'), X('I'), X('J'), X('K'), X('L'), \
    X('M'), X('N'), X('O'), X('P'), X('Q'), X('R'), X('S'), X('T'), X('U'), X('V'), X('W'), \
    X('X'), X('Y'), X('Z'), X('a'), X('b'), X('c'), X('d'), X('e'), X('f'), X('g'), X('h'), \
    X('i'), X('j'), X('k'), X('l'), X('m'), X('n'), X('o'), X('p'), X('q'), X('r'), X('s'), \
    X('t'), X('u'), X('v'), X('w'), X('x'), X('y'), X('z')
/* RFC 9110 tchar (header names, methods): letters, digits and !#$%&'*+-.^_`|~ */
#define KG_TCHAR_DESIGNATORS(X)                                                              \
    KG_ALNUM_DESIGNATORS(X), X('!'), X('#'), X('$'), X('%'), X('&'), X('\''), X('*'), X('+'), \
        X('-'), X('.'), X('^'), X('_'), X('`'), X('|'), X('~')

/* Lower-case hex of n bytes into out (2n + 1 bytes with the NUL). */
void kg_hex_lower(const unsigned char *in, size_t n, char *out);

/* The decimal text of v (NUL-terminated) into out; returns its length. By
 * hand: snprintf("%lld") costs ~1,000 instructions, this ~60. */
#define KG_DECIMAL_MAX 20 /* "-9223372036854775808" */
size_t kg_decimal(int64_t v, char out[KG_DECIMAL_MAX + 1]);

/* True for an RFC 9110 token byte (KG_TCHAR_DESIGNATORS). */
int kg_http_token_char(unsigned char c);

/* Appends s[0..n) percent-encoded with upper-case hex; everything but the
 * unreserved set is encoded. With keep_slash, '/' is kept (URI paths). */
KG_WARN_UNUSED enum kg_err kg_uri_encode(struct kg_buf *out, const char *s, size_t n,
                                         int keep_slash);

/* Appends the percent-decoding of s[0..n). With plus_is_space, '+' becomes ' '
 * (form encoding). A '%' not followed by two hex digits fails with
 * KG_ERR_BAD_REQUEST. The output may contain any byte, NUL included. */
KG_WARN_UNUSED enum kg_err kg_uri_decode(struct kg_buf *out, const char *s, size_t n,
                                         int plus_is_space);

/* Standard base64 with padding. */
KG_WARN_UNUSED enum kg_err kg_base64_encode(struct kg_buf *out, const unsigned char *in,
                                            size_t n);
/* base64url without padding (JWT, JWK). */
KG_WARN_UNUSED enum kg_err kg_base64url_encode(struct kg_buf *out, const unsigned char *in,
                                               size_t n);
/* Strict decoders; KG_ERR_BAD_REQUEST on malformed input. Standard base64
 * requires correct padding; base64url refuses padding. */
KG_WARN_UNUSED enum kg_err kg_base64_decode(struct kg_buf *out, const char *in, size_t n);
KG_WARN_UNUSED enum kg_err kg_base64url_decode(struct kg_buf *out, const char *in, size_t n);

/* Length of the valid UTF-8 sequence at s (at most n bytes; overlong forms,
 * surrogates and code points past U+10FFFF are invalid), or 0. */
size_t kg_utf8_seq_len(const unsigned char *s, size_t n);

/* Writes the inside of a JSON string (no quotes) for s[0..n) into
 * out[0..cap): '"' '\\' \n \r \t escaped with a backslash, other control
 * characters and DEL as \u00xx, valid UTF-8 as it is, and each byte that is
 * not valid UTF-8 as \ufffd (lossy: for log lines and diagnostics, where a
 * hostile value must still make valid JSON). Bounded by construction: it stops
 * before the first character whose escape or UTF-8 sequence would not fit
 * whole, so the output is always valid JSON string text. Returns the bytes
 * written (<= cap); *consumed (optional) gets how many input bytes they stand
 * for (< n when the output was cut). */
size_t kg_json_escape(char *out, size_t cap, const char *s, size_t n, size_t *consumed);

/* 1 when s[0..n) is all valid UTF-8 (kg_utf8_seq_len's rules). */
int kg_utf8_valid(const char *s, size_t n);

/* Appends s[0..n) as a JSON string of at most max_len bytes with its quotes,
 * escaped as kg_json_escape does (lossy). A value that does not fit is cut at
 * a character boundary and ends in "..." inside the quotes. For text a caller
 * influences, in bodies with a documented bound. KG_ERR_BAD_REQUEST when
 * max_len < 5; KG_ERR_PAYLOAD_TOO_LARGE when out cannot take max_len more
 * bytes. out is unchanged on failure. */
KG_WARN_UNUSED enum kg_err kg_json_append_string_cut(struct kg_buf *out, const char *s, size_t n,
                                                     size_t max_len);

/* Appends s[0..n) as a JSON string: quoted, '"' '\\' \n \r \t escaped with a
 * backslash, other control characters and DEL as \u00xx, '/' and UTF-8 as they
 * are. Invalid UTF-8 fails with KG_ERR_BAD_REQUEST (as jansson's json_string
 * refuses it), leaving out unchanged. */
KG_WARN_UNUSED enum kg_err kg_json_append_string(struct kg_buf *out, const char *s, size_t n);

#endif
