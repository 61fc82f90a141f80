/* vt_json_quote: JSON string literals (RFC 8259 §7). Expected values are written out by hand from
 * the RFC's escape table; a small independent decoder checks that every byte 1..255 round-trips. */
#include <string.h>

#include "ventral/core.h"
#include "vt_test.h"

/* True when vt_json_quote(in) is exactly `want`. */
static bool quotes_to(const char *in, const char *want)
{
    char *q = vt_json_quote(in);
    bool ok = q && strcmp(q, want) == 0;
    if (!ok) fprintf(stderr, "  vt_json_quote gave [%s], expected [%s]\n", q ? q : "(NULL)", want);
    free(q);
    return ok;
}

static void test_escapes(void)
{
    CHECK(quotes_to("", "\"\""));
    CHECK(quotes_to("plain/path.npy", "\"plain/path.npy\""));
    CHECK(quotes_to("a\"b", "\"a\\\"b\""));
    CHECK(quotes_to("a\\b", "\"a\\\\b\""));
    CHECK(quotes_to("\\\"", "\"\\\\\\\"\""));
    CHECK(quotes_to("C:\\dir\\\"x\".npy", "\"C:\\\\dir\\\\\\\"x\\\".npy\""));
    CHECK(quotes_to("\n\t\r\b\f", "\"\\n\\t\\r\\b\\f\""));
    CHECK(quotes_to("\x01\x1f", "\"\\u0001\\u001f\""));
    CHECK(quotes_to("a\x1b[0m", "\"a\\u001b[0m\""));
    CHECK(quotes_to("/", "\"/\""));       /* '/' may stay unescaped */
    CHECK(quotes_to("\x7f", "\"\x7f\"")); /* DEL is not a control character for JSON */
    /* UTF-8 passes through byte for byte: é, 猫, U+1F600. */
    CHECK(quotes_to("caf\xc3\xa9 \xe7\x8c\xab \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe7\x8c\xab \xf0\x9f\x98\x80\""));
    /* NULL is JSON null, without quotes. */
    CHECK(quotes_to(NULL, "null"));
}

/* An independent decoder of the subset vt_json_quote may emit; returns the decoded length or -1. */
static int decode(const char *lit, unsigned char *out)
{
    size_t n = strlen(lit);
    if (n < 2 || lit[0] != '"' || lit[n - 1] != '"') return -1;
    int o = 0;
    for (size_t i = 1; i < n - 1; i++) {
        unsigned char c = (unsigned char)lit[i];
        if (c < 0x20 || c == '"') return -1; /* raw control byte or unescaped quote: invalid JSON */
        if (c != '\\') {
            out[o++] = c;
            continue;
        }
        if (++i >= n - 1) return -1;
        switch (lit[i]) {
        case '"': out[o++] = '"'; break;
        case '\\': out[o++] = '\\'; break;
        case '/': out[o++] = '/'; break;
        case 'n': out[o++] = '\n'; break;
        case 't': out[o++] = '\t'; break;
        case 'r': out[o++] = '\r'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'u': {
            unsigned v = 0;
            for (int k = 0; k < 4; k++) {
                char h = lit[++i];
                v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : 99);
            }
            if (v >= 0x20) return -1; /* only control characters are expected here */
            out[o++] = (unsigned char)v;
            break;
        }
        default: return -1;
        }
    }
    return o;
}

static void test_every_byte_round_trips(void)
{
    char in[256];
    for (int c = 1; c < 256; c++) in[c - 1] = (char)c;
    in[255] = '\0';
    char *q = vt_json_quote(in);
    CHECK(q != NULL);
    if (!q) return;
    unsigned char back[256];
    int n = decode(q, back);
    CHECK(n == 255);
    CHECK(n == 255 && memcmp(back, in, 255) == 0);
    /* Length: 2 quotes + 7 two-byte escapes (" \\ \n \t \r \b \f) + 26 six-byte \u00XX (the other
     * control bytes 1..31) + 222 bytes passed through. */
    CHECK(strlen(q) == 2 + 7 * 2 + 26 * 6 + 222);
    free(q);
}

int main(void)
{
    RUN(test_escapes);
    RUN(test_every_byte_round_trips);
    return vt_test_summary();
}
