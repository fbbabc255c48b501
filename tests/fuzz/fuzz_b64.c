// fuzz_b64.c: strict base64, hex and decimal decoders of router/core/bytes.c (STYLE.md §12
// "hex_b64"). Checks: no crash or over-read; a successful decode round-trips through the encoder;
// a strict decimal re-prints to exactly the bytes it consumed; a failed cursor read leaves the
// cursor unchanged.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/core/bytes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_b64(const uint8_t *data, size_t size) {
    size_t cap = size / 4 * 3 + 3;
    uint8_t *out = malloc(cap);
    size_t out_len = 0;
    RT_CHECK(out != NULL);
    if (core_b64_decode(out, cap, &out_len, (const char *)data, size)) {
        RT_CHECK(out_len <= size / 4 * 3);
        char *enc = malloc(4 * ((out_len + 2) / 3) + 1);
        RT_CHECK(enc != NULL);
        core_b64_encode(enc, out, out_len);
        uint8_t *back = malloc(out_len + 1);
        size_t back_len = 0;
        RT_CHECK(back != NULL);
        RT_CHECK(core_b64_decode(back, out_len + 1, &back_len, enc, strlen(enc)));
        RT_CHECK(back_len == out_len && core_memcmp(back, out, out_len) == 0);
        // Same length as the input, except "=" (the SASL empty response).
        RT_CHECK(strlen(enc) == size || (size == 1 && data[0] == '='));
        // A buffer one byte too small fails.
        if (out_len > 0) {
            RT_CHECK(!core_b64_decode(back, out_len - 1, &back_len, (const char *)data, size));
        }
        free(back);
        free(enc);
    }
    free(out);
}

static void check_hex(const uint8_t *data, size_t size) {
    if (size % 2 != 0) {
        return;
    }
    uint8_t *out = malloc(size / 2 + 1);
    RT_CHECK(out != NULL);
    if (core_hex_decode(out, size / 2, (const char *)data, size)) {
        char *enc = malloc(size + 1);
        RT_CHECK(enc != NULL);
        core_hex_encode(enc, out, size / 2);
        RT_CHECK(core_ascii_lower_eq(enc, size, (const char *)data, size));
        free(enc);
    }
    free(out);
}

static void check_decimal(const uint8_t *data, size_t size) {
    uint64_t max = size > 0 ? data[0] * 1000003ULL : UINT64_MAX;
    core_cur_t cur;
    core_cur_init(&cur, data, size);
    core_cur_t before = cur;
    uint64_t v = 12345;
    if (core_cur_get_decimal(&cur, max, &v)) {
        size_t used = size - cur.len;
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
        RT_CHECK(v <= max);
        RT_CHECK(n > 0 && (size_t)n == used && memcmp(buf, data, used) == 0);
        RT_CHECK(cur.len == 0 || cur.ptr[0] < '0' || cur.ptr[0] > '9');
    } else {
        RT_CHECK(cur.ptr == before.ptr && cur.len == before.len && v == 12345);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_b64(data, size);
    check_hex(data, size);
    check_decimal(data, size);
    return 0;
}
