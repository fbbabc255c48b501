// test_bytes.c: unit tests of router/core/bytes.c (cursor, hex, base64, builder, buffer).
#include <stdlib.h>
#include <string.h>

#include "router/core/bytes.h"
#include "tests/support/t.h"

#define CUR(c, s) core_cur_init(&(c), (s), sizeof(s) - 1)

// Asserts that |c| still is |ptr|/|len| (a failed read leaves the cursor unchanged).
#define T_CUR_AT(c, p, l)                                                                          \
    do {                                                                                           \
        T_ASSERT((c).ptr == (const uint8_t *)(p));                                                 \
        T_ASSERT_EQ((c).len, (l));                                                                 \
    } while (0)

static void test_cursor_ints(void) {
    static const uint8_t d[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
    core_cur_t c;
    core_cur_init(&c, d, sizeof(d));
    uint8_t u8 = 0;
    uint16_t u16 = 0;
    uint32_t u32 = 0;
    T_ASSERT(core_cur_get_u8(&c, &u8));
    T_ASSERT_EQ(u8, 1);
    T_ASSERT(core_cur_get_u16(&c, &u16));
    T_ASSERT_EQ(u16, 0x0203);
    T_ASSERT(core_cur_get_u32(&c, &u32));
    T_ASSERT_EQ(u32, 0x04050607);
    T_ASSERT(core_cur_empty(&c));
    // Failures leave cursor and outputs unchanged.
    core_cur_init(&c, d, 3);
    u32 = 77;
    T_ASSERT(!core_cur_get_u32(&c, &u32));
    T_ASSERT_EQ(u32, 77);
    T_CUR_AT(c, d, 3);
    core_cur_init(&c, d, 1);
    u16 = 77;
    T_ASSERT(!core_cur_get_u16(&c, &u16));
    T_ASSERT_EQ(u16, 77);
    T_CUR_AT(c, d, 1);
    core_cur_init(&c, d, 0);
    T_ASSERT(!core_cur_get_u8(&c, &u8));
    T_ASSERT(!core_cur_skip(&c, 1));
    T_ASSERT(core_cur_skip(&c, 0));
    core_cur_init(&c, d, 5);
    T_ASSERT(!core_cur_skip(&c, 6));
    T_CUR_AT(c, d, 5);
    T_ASSERT(core_cur_skip(&c, 5));
    T_ASSERT(core_cur_empty(&c));
}

static void test_cursor_children(void) {
    static const uint8_t d[] = {3, 'a', 'b', 'c', 0, 2, 'x', 'y', 'z'};
    core_cur_t c, child;
    core_cur_init(&c, d, sizeof(d));
    T_ASSERT(core_cur_get_u8_prefixed(&c, &child));
    T_ASSERT(core_cur_eq_str(&child, "abc"));
    T_ASSERT(core_cur_get_u16_prefixed(&c, &child));
    T_ASSERT(core_cur_eq_str(&child, "xy"));
    T_ASSERT_EQ(c.len, 1);
    // A prefix longer than what is left fails and consumes nothing, not even the length byte.
    static const uint8_t short8[] = {5, 'a', 'b'};
    core_cur_init(&c, short8, sizeof(short8));
    T_ASSERT(!core_cur_get_u8_prefixed(&c, &child));
    T_CUR_AT(c, short8, 3);
    static const uint8_t short16[] = {0, 9, 'a'};
    core_cur_init(&c, short16, sizeof(short16));
    T_ASSERT(!core_cur_get_u16_prefixed(&c, &child));
    T_CUR_AT(c, short16, 3);
    // get_bytes: a child that cannot read past its parent.
    core_cur_init(&c, d, sizeof(d));
    T_ASSERT(core_cur_get_bytes(&c, &child, 4));
    T_ASSERT_EQ(child.len, 4);
    T_ASSERT(!core_cur_skip(&child, 5));
    T_ASSERT(!core_cur_get_bytes(&c, &child, 6));
    T_CUR_AT(c, d + 4, 5);
    // get_until consumes the delimiter; fails without it.
    const char *s = "key=value;rest";
    core_cur_init(&c, s, strlen(s));
    T_ASSERT(core_cur_get_until(&c, &child, '='));
    T_ASSERT(core_cur_eq_str(&child, "key"));
    T_ASSERT(core_cur_get_until(&c, &child, ';'));
    T_ASSERT(core_cur_eq_str(&child, "value"));
    T_ASSERT(!core_cur_get_until(&c, &child, ';'));
    T_CUR_AT(c, s + 10, 4);
    core_cur_init(&c, NULL, 0);
    T_ASSERT(!core_cur_get_until(&c, &child, ';'));
    // match and eq_str.
    core_cur_init(&c, s, strlen(s));
    T_ASSERT(!core_cur_match(&c, "kez", 3));
    T_CUR_AT(c, s, strlen(s));
    T_ASSERT(core_cur_match(&c, "key", 3));
    T_ASSERT(!core_cur_match(&c, "=value;rest!", 12));
    T_ASSERT(core_cur_match(&c, "=", 1));
    T_ASSERT(!core_cur_eq_str(&c, "value"));
    T_ASSERT(core_cur_eq_str(&c, "value;rest"));
}

static void test_decimal(void) {
    core_cur_t c;
    uint64_t v = 99;
    CUR(c, "0");
    T_ASSERT(core_cur_get_decimal(&c, 10, &v));
    T_ASSERT_EQ(v, 0);
    T_ASSERT(core_cur_empty(&c));
    CUR(c, "1234x");
    T_ASSERT(core_cur_get_decimal(&c, 100000, &v));
    T_ASSERT_EQ(v, 1234);
    T_ASSERT(core_cur_eq_str(&c, "x"));
    // No digits, sign, leading zero, over max: fail, unchanged.
    const char *bad[] = {"", "x1", "-1", "+1", "01", "00", " 1"};
    for (size_t i = 0; i < RT_ARRAY_LEN(bad); i++) {
        core_cur_init(&c, bad[i], strlen(bad[i]));
        v = 99;
        T_ASSERT(!core_cur_get_decimal(&c, 1000, &v));
        T_ASSERT_EQ(v, 99);
        T_CUR_AT(c, bad[i], strlen(bad[i]));
    }
    CUR(c, "65535");
    T_ASSERT(core_cur_get_decimal(&c, 65535, &v));
    T_ASSERT_EQ(v, 65535);
    CUR(c, "65536");
    T_ASSERT(!core_cur_get_decimal(&c, 65535, &v));
    T_ASSERT_EQ(c.len, 5);
    // A single digit above a small max (regression: max - d must not wrap).
    CUR(c, "7");
    T_ASSERT(!core_cur_get_decimal(&c, 5, &v));
    CUR(c, "5");
    T_ASSERT(core_cur_get_decimal(&c, 5, &v));
    T_ASSERT_EQ(v, 5);
    CUR(c, "12");
    T_ASSERT(!core_cur_get_decimal(&c, 0, &v));
    CUR(c, "18446744073709551615");
    T_ASSERT(core_cur_get_decimal(&c, UINT64_MAX, &v));
    T_ASSERT(v == UINT64_MAX);
    CUR(c, "18446744073709551616");
    T_ASSERT(!core_cur_get_decimal(&c, UINT64_MAX, &v));
    CUR(c, "99999999999999999999999");
    T_ASSERT(!core_cur_get_decimal(&c, UINT64_MAX, &v));
}

static void test_hex(void) {
    uint8_t out[4] = {0};
    T_ASSERT(core_hex_decode(out, 3, "00fFa9", 6));
    T_ASSERT(out[0] == 0x00 && out[1] == 0xff && out[2] == 0xa9);
    T_ASSERT(!core_hex_decode(out, 3, "00ffa", 5));
    T_ASSERT(!core_hex_decode(out, 3, "00ffa9aa", 8));
    T_ASSERT(!core_hex_decode(out, 3, "00ffag", 6));
    T_ASSERT(!core_hex_decode(out, 1, " 1", 2));
    T_ASSERT(!core_hex_decode(out, 1, "0x", 2));
    T_ASSERT(core_hex_decode(out, 0, "", 0));
    char enc[9];
    static const uint8_t in[] = {0xde, 0xad, 0x00, 0x0f};
    core_hex_encode(enc, in, sizeof(in));
    T_ASSERT_STREQ(enc, "dead000f");
    core_hex_encode(enc, in, 0);
    T_ASSERT_STREQ(enc, "");
}

static void b64_ok(const char *in, const char *want, size_t want_len) {
    uint8_t out[64];
    size_t n = 999;
    T_ASSERT(core_b64_decode(out, sizeof(out), &n, in, strlen(in)));
    T_ASSERT_EQ(n, want_len);
    T_ASSERT(memcmp(out, want, want_len) == 0);
}

static void b64_bad(const char *in) {
    uint8_t out[64];
    size_t n = 999;
    if (core_b64_decode(out, sizeof(out), &n, in, strlen(in))) {
        fprintf(stderr, "base64 accepted: \"%s\"\n", in);
        exit(1);
    }
    T_ASSERT_EQ(n, 999);
}

static void test_b64(void) {
    b64_ok("", "", 0);
    b64_ok("=", "", 0); // SASL: empty response
    b64_ok("QQ==", "A", 1);
    b64_ok("QUI=", "AB", 2);
    b64_ok("QUJD", "ABC", 3);
    b64_ok("AGZvbwBiYXI=", "\0foo\0bar", 8);
    b64_ok("+/+/", "\xfb\xff\xbf", 3);
    b64_bad("Q");
    b64_bad("QQ");
    b64_bad("QQ=");
    b64_bad("QQ===");
    b64_bad("Q===");
    b64_bad("====");
    b64_bad("==");
    b64_bad("QQ=A");
    b64_bad("Q=Q=");
    b64_bad("QQ==QUJD");
    b64_bad("QU JD");
    b64_bad("QUJD\n");
    b64_bad("QU-_");
    b64_bad("QUJ\0");
    // Output capacity is enforced.
    uint8_t small[2];
    size_t n = 0;
    T_ASSERT(!core_b64_decode(small, sizeof(small), &n, "QUJD", 4));
    T_ASSERT(core_b64_decode(small, sizeof(small), &n, "QUI=", 4));
    T_ASSERT_EQ(n, 2);
    char enc[16];
    core_b64_encode(enc, (const uint8_t *)"A", 1);
    T_ASSERT_STREQ(enc, "QQ==");
    core_b64_encode(enc, (const uint8_t *)"AB", 2);
    T_ASSERT_STREQ(enc, "QUI=");
    core_b64_encode(enc, (const uint8_t *)"ABC", 3);
    T_ASSERT_STREQ(enc, "QUJD");
    core_b64_encode(enc, (const uint8_t *)"", 0);
    T_ASSERT_STREQ(enc, "");
}

static void test_builder(void) {
    core_bld_t b;
    core_bld_init(&b, 16);
    core_bld_add_str(&b, "hello ");
    core_bld_add_u8(&b, 'w');
    core_bld_printf(&b, "%d", 42);
    T_ASSERT_EQ(core_bld_finish(&b), RC_OK);
    T_ASSERT_EQ(b.len, 9);
    T_ASSERT(memcmp(b.data, "hello w42", 9) == 0);
    // Exactly to the limit is fine; one more byte fails, and the error sticks.
    core_bld_add(&b, "1234567", 7);
    T_ASSERT_EQ(core_bld_finish(&b), RC_OK);
    T_ASSERT_EQ(b.len, 16);
    core_bld_add_u8(&b, 'x');
    T_ASSERT_EQ(core_bld_finish(&b), RC_ENOBUFS);
    T_ASSERT_EQ(b.len, 16);
    core_bld_add(&b, NULL, 0);
    T_ASSERT_EQ(core_bld_finish(&b), RC_ENOBUFS);
    core_bld_reset(&b);
    T_ASSERT_EQ(core_bld_finish(&b), RC_OK);
    T_ASSERT_EQ(b.len, 0);
    // A failed add writes nothing (no partial output).
    core_bld_add(&b, "0123456789abcdefXYZ", 19);
    T_ASSERT_EQ(b.len, 0);
    T_ASSERT_EQ(core_bld_finish(&b), RC_ENOBUFS);
    core_bld_cleanup(&b);
    core_bld_cleanup(&b); // a zeroed builder is safe to clean up
    core_bld_cleanup(NULL);

    // Long printf output goes through the slow path.
    core_bld_init(&b, 4096);
    char big[1001];
    memset(big, 'a', 1000);
    big[1000] = '\0';
    core_bld_printf(&b, "<%s>", big);
    T_ASSERT_EQ(core_bld_finish(&b), RC_OK);
    T_ASSERT_EQ(b.len, 1002);
    T_ASSERT(b.data[0] == '<' && b.data[1001] == '>');
    core_bld_cleanup(&b);
    core_bld_init(&b, 100);
    core_bld_printf(&b, "%s", big);
    T_ASSERT_EQ(core_bld_finish(&b), RC_ENOBUFS);
    core_bld_cleanup(&b);

    // XML escaping.
    core_bld_init(&b, 1024);
    const char *s = "a<b>&'\"\r\n\tz";
    core_bld_add_xml_text(&b, s, strlen(s));
    core_bld_add_u8(&b, '|');
    core_bld_add_xml_attr(&b, s, strlen(s));
    core_bld_add_u8(&b, '|');
    core_bld_add_xml_text(&b, "]]>", 3);
    core_bld_add_u8(&b, 0);
    T_ASSERT_EQ(core_bld_finish(&b), RC_OK);
    T_ASSERT_STREQ((const char *)b.data, "a&lt;b&gt;&amp;'\"&#13;\n\tz|"
                                         "a&lt;b&gt;&amp;&apos;&quot;&#13;&#10;&#9;z|]]&gt;");
    // Escaping respects the limit too.
    core_bld_cleanup(&b);
    core_bld_init(&b, 8);
    core_bld_add_xml_text(&b, "<<", 2);
    T_ASSERT_EQ(core_bld_finish(&b), RC_OK);
    core_bld_add_xml_text(&b, "<", 1);
    T_ASSERT_EQ(core_bld_finish(&b), RC_ENOBUFS);
    core_bld_cleanup(&b);
}

static void test_buf(void) {
    core_buf_t buf;
    memset(&buf, 0, sizeof(buf));
    T_ASSERT_EQ(core_buf_len(&buf), 0);
    core_buf_append(&buf, "hello", 5);
    T_ASSERT_EQ(core_buf_len(&buf), 5);
    T_ASSERT(memcmp(core_buf_head(&buf), "hello", 5) == 0);
    core_buf_consume(&buf, 2);
    T_ASSERT_EQ(core_buf_len(&buf), 3);
    T_ASSERT(memcmp(core_buf_head(&buf), "llo", 3) == 0);
    uint8_t *w = core_buf_reserve(&buf, 3);
    memcpy(w, "abc", 3);
    core_buf_commit(&buf, 3);
    T_ASSERT(memcmp(core_buf_head(&buf), "lloabc", 6) == 0);
    // Growth far past the first capacity keeps the bytes in order.
    for (int i = 0; i < 10000; i++) {
        uint8_t c = (uint8_t)(i & 0xff);
        core_buf_append(&buf, &c, 1);
    }
    T_ASSERT_EQ(core_buf_len(&buf), 10006);
    T_ASSERT(memcmp(core_buf_head(&buf), "lloabc", 6) == 0);
    T_ASSERT_EQ(core_buf_head(&buf)[6 + 300], 300 & 0xff);
    core_buf_consume(&buf, 10006);
    T_ASSERT_EQ(core_buf_len(&buf), 0);
    T_ASSERT_EQ(buf.off, 0);
    // Idle and big: shrink frees the storage; small: kept.
    core_buf_shrink(&buf, 1 << 20);
    T_ASSERT(buf.data != NULL);
    core_buf_shrink(&buf, 4096);
    T_ASSERT(buf.data == NULL && buf.cap == 0);
    core_buf_append(&buf, "x", 1);
    core_buf_shrink(&buf, 0); // not empty: kept
    T_ASSERT(buf.data != NULL && core_buf_len(&buf) == 1);
    // Consume then reserve compacts instead of growing.
    core_buf_cleanup(&buf);
    core_buf_append(&buf, "0123456789", 10);
    size_t cap = buf.cap;
    core_buf_consume(&buf, 5);
    (void)core_buf_reserve(&buf, cap - 5);
    T_ASSERT_EQ(buf.cap, cap);
    T_ASSERT(memcmp(core_buf_head(&buf), "56789", 5) == 0);
    core_buf_cleanup(&buf);
    core_buf_cleanup(&buf);
    core_buf_cleanup(NULL);
}

static void test_mem(void) {
    T_ASSERT(core_ct_equal("abc", "abc", 3));
    T_ASSERT(!core_ct_equal("abc", "abd", 3));
    T_ASSERT(core_ct_equal(NULL, NULL, 0));
    T_ASSERT(core_ascii_lower_eq("UTF-8", 5, "utf-8", 5));
    T_ASSERT(!core_ascii_lower_eq("UTF-8", 5, "utf-16", 6));
    T_ASSERT(!core_ascii_lower_eq("\xc3\xa9", 2, "\xc3\x89", 2));
}

int main(void) {
    test_cursor_ints();
    test_cursor_children();
    test_decimal();
    test_hex();
    test_b64();
    test_builder();
    test_buf();
    test_mem();
    return 0;
}
