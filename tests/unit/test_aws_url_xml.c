/* aws/url (the strict endpoint splitter) and aws/xml (the bounded element
 * reader behind STS and XML error bodies). */
#include <string.h>

#include "core/url.h"
#include "aws/xml.h"
#include "testlib.h"

static void test_url_parse_splits_what_we_send_to(void)
{
    struct {
        const char *url;
        const char *scheme, *host, *authority, *path;
        int port;
    } rows[] = {
        {"https://kinesisvideo.us-west-2.amazonaws.com", "https",
         "kinesisvideo.us-west-2.amazonaws.com", "kinesisvideo.us-west-2.amazonaws.com", "", 0},
        {"https://r-1.kinesisvideo.us-west-2.amazonaws.com/v1/get-ice-server-config", "https",
         "r-1.kinesisvideo.us-west-2.amazonaws.com", "r-1.kinesisvideo.us-west-2.amazonaws.com",
         "/v1/get-ice-server-config", 0},
        {"http://127.0.0.1:4566/channels/1/https", "http", "127.0.0.1", "127.0.0.1:4566",
         "/channels/1/https", 4566},
        {"https://x.example:443/", "https", "x.example", "x.example", "/", 443},
        {"http://x.example:80/a", "http", "x.example", "x.example", "/a", 80},
        {"https://x.example:8443/a", "https", "x.example", "x.example:8443", "/a", 8443},
        {"http://[::1]:9000/p", "http", "::1", "[::1]:9000", "/p", 9000},
        {"http://[fd00:ec2::23]/v1", "http", "fd00:ec2::23", "[fd00:ec2::23]", "/v1", 0},
    };
    for (size_t i = 0; i < T_COUNT(rows); i++) {
        struct url_parts u;
        T_INTEQ(url_parse(rows[i].url, 0, &u), KG_OK);
        T_STREQ(u.scheme, rows[i].scheme);
        T_STREQ(u.host, rows[i].host);
        T_STREQ(u.authority, rows[i].authority);
        T_STREQ(u.path, rows[i].path);
        T_INTEQ(u.port, rows[i].port);
    }
    struct url_parts u;
    T_INTEQ(url_parse("http://h/p?a=1&b=2", URL_ALLOW_QUERY, &u), KG_OK);
    T_STREQ(u.path, "/p");
    T_STREQ(u.query, "a=1&b=2");
}

static void test_url_parse_refuses_what_it_does_not_understand(void)
{
    const char *bad[] = {
        NULL, "", "ftp://h/", "wss://h/", "https://", "https:///p", "https://h:0/",
        "https://h:65536/", "https://h:abc/", "https://user@h/", "https://h/p#frag",
        "https://h/p q", "https://h/p?q=1", "https://[::1/", "https://[nothex]/",
        "https://h\r\n/", "http://h:80x/",
    };
    for (size_t i = 0; i < T_COUNT(bad); i++) {
        struct url_parts u;
        if (url_parse(bad[i], 0, &u) != KG_ERR_BAD_REQUEST)
            t_fail(__FILE__, __LINE__, "accepted bad URL #%zu", i);
    }
    T_CHECK(url_host_is_loopback("127.0.0.1"));
    T_CHECK(url_host_is_loopback("127.255.0.9"));
    T_CHECK(url_host_is_loopback("::1"));
    T_CHECK(url_host_is_loopback("LOCALHOST"));
    T_CHECK(!url_host_is_loopback("128.0.0.1"));
    T_CHECK(!url_host_is_loopback("localhost.example"));
    T_CHECK(!url_host_is_loopback("::2"));
}

static void test_xml_find_counts_and_returns_the_first_element(void)
{
    const char *doc = "<?xml version=\"1.0\"?>\n<R xmlns=\"urn:x\"><A>1</A><AB>x</AB><A k=\"v\">2"
                      "</A><E/><C><A>3</A></C></R>";
    const char *c;
    size_t n;
    T_INTEQ(xml_check(doc, strlen(doc)), KG_OK);
    T_INTEQ(xml_find(doc, strlen(doc), "A", &c, &n), 3);
    T_MEMEQ(c, n, "1", 1);
    T_INTEQ(xml_find(doc, strlen(doc), "AB", &c, &n), 1);
    T_MEMEQ(c, n, "x", 1);
    T_INTEQ(xml_find(doc, strlen(doc), "E", &c, &n), 1);
    T_INTEQ((long long)n, 0);
    T_INTEQ(xml_find(doc, strlen(doc), "Z", &c, &n), 0);
    T_CHECK(c == NULL);
    char root[16];
    T_INTEQ(xml_root_name(doc, strlen(doc), root, sizeof root), KG_OK);
    T_STREQ(root, "R");
    T_INTEQ(xml_root_name("junk", 4, root, sizeof root), KG_ERR_BAD_REQUEST);
    T_INTEQ(xml_root_name("<VeryLongRootElementName/>", 26, root, 8), KG_ERR_BAD_REQUEST);
    /* Unterminated elements are not found. */
    T_INTEQ(xml_find("<A>1", 4, "A", &c, &n), 0);
}

static void test_xml_check_and_text_refuse_unknown_constructs(void)
{
    const char *bad_docs[] = {"<a><!-- c --></a>", "<a><![CDATA[x]]></a>", "<!DOCTYPE a><a/>",
                              "<a><?pi x?></a>", " x <?xml version=\"1.0\"?><a/>"};
    for (size_t i = 0; i < T_COUNT(bad_docs); i++)
        if (xml_check(bad_docs[i], strlen(bad_docs[i])) == KG_OK)
            t_fail(__FILE__, __LINE__, "accepted XML #%zu", i);
    T_INTEQ(xml_check("a\0b", 3), KG_ERR_BAD_REQUEST);

    char storage[64];
    struct kg_buf b;
    kg_buf_init_fixed(&b, storage, sizeof storage);
    const char *text = "  a&amp;b&lt;&gt;&quot;&apos;&#65;&#x42; \n";
    T_INTEQ(xml_text(text, strlen(text), &b), KG_OK);
    T_STREQ(b.data, "a&b<>\"'AB");
    const char *bad_text[] = {"<b>x</b>", "&nbsp;", "&#10;", "&#x;", "&amp", "a>b", "&#xZZ;"};
    for (size_t i = 0; i < T_COUNT(bad_text); i++) {
        kg_buf_reset(&b);
        if (xml_text(bad_text[i], strlen(bad_text[i]), &b) != KG_ERR_BAD_REQUEST)
            t_fail(__FILE__, __LINE__, "accepted text #%zu", i);
    }
    char small[4];
    kg_buf_init_fixed(&b, small, sizeof small);
    T_INTEQ(xml_text("abcdef", 6, &b), KG_ERR_PAYLOAD_TOO_LARGE);
}

static const struct t_case cases[] = {
    T_CASE(test_url_parse_splits_what_we_send_to),
    T_CASE(test_url_parse_refuses_what_it_does_not_understand),
    T_CASE(test_xml_find_counts_and_returns_the_first_element),
    T_CASE(test_xml_check_and_text_refuse_unknown_constructs),
};

int main(int argc, char **argv) { return t_main(cases, T_COUNT(cases), argc, argv); }
