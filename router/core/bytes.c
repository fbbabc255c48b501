#include "router/core/bytes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

bool core_cur_skip(core_cur_t *cur, size_t n) {
    if (cur->len < n) {
        return false;
    }
    cur->ptr += n;
    cur->len -= n;
    return true;
}

bool core_cur_get_u8(core_cur_t *cur, uint8_t *out) {
    if (cur->len < 1) {
        return false;
    }
    *out = cur->ptr[0];
    cur->ptr++;
    cur->len--;
    return true;
}

bool core_cur_get_u16(core_cur_t *cur, uint16_t *out) {
    if (cur->len < 2) {
        return false;
    }
    *out = (uint16_t)((cur->ptr[0] << 8) | cur->ptr[1]);
    cur->ptr += 2;
    cur->len -= 2;
    return true;
}

bool core_cur_get_u32(core_cur_t *cur, uint32_t *out) {
    if (cur->len < 4) {
        return false;
    }
    *out = ((uint32_t)cur->ptr[0] << 24) | ((uint32_t)cur->ptr[1] << 16) |
           ((uint32_t)cur->ptr[2] << 8) | cur->ptr[3];
    cur->ptr += 4;
    cur->len -= 4;
    return true;
}

bool core_cur_get_bytes(core_cur_t *cur, core_cur_t *out, size_t n) {
    if (cur->len < n) {
        return false;
    }
    out->ptr = cur->ptr;
    out->len = n;
    cur->ptr += n;
    cur->len -= n;
    return true;
}

bool core_cur_get_u8_prefixed(core_cur_t *cur, core_cur_t *out) {
    core_cur_t copy = *cur;
    uint8_t n;
    if (!core_cur_get_u8(&copy, &n) || !core_cur_get_bytes(&copy, out, n)) {
        return false;
    }
    *cur = copy;
    return true;
}

bool core_cur_get_u16_prefixed(core_cur_t *cur, core_cur_t *out) {
    core_cur_t copy = *cur;
    uint16_t n;
    if (!core_cur_get_u16(&copy, &n) || !core_cur_get_bytes(&copy, out, n)) {
        return false;
    }
    *cur = copy;
    return true;
}

bool core_cur_get_until(core_cur_t *cur, core_cur_t *out, uint8_t c) {
    const uint8_t *p = cur->len ? memchr(cur->ptr, c, cur->len) : NULL;
    if (p == NULL) {
        return false;
    }
    size_t n = (size_t)(p - cur->ptr);
    out->ptr = cur->ptr;
    out->len = n;
    cur->ptr += n + 1;
    cur->len -= n + 1;
    return true;
}

bool core_cur_get_decimal(core_cur_t *cur, uint64_t max, uint64_t *out) {
    size_t i = 0;
    uint64_t v = 0;
    while (i < cur->len && cur->ptr[i] >= '0' && cur->ptr[i] <= '9') {
        if (i == 1 && cur->ptr[0] == '0') {
            return false; // leading zero
        }
        uint64_t d = (uint64_t)(cur->ptr[i] - '0');
        if (d > max || v > (max - d) / 10) {
            return false;
        }
        v = v * 10 + d;
        i++;
    }
    if (i == 0) {
        return false;
    }
    *out = v;
    cur->ptr += i;
    cur->len -= i;
    return true;
}

bool core_cur_match(core_cur_t *cur, const void *lit, size_t lit_len) {
    if (cur->len < lit_len || core_memcmp(cur->ptr, lit, lit_len) != 0) {
        return false;
    }
    cur->ptr += lit_len;
    cur->len -= lit_len;
    return true;
}

bool core_cur_eq_str(const core_cur_t *cur, const char *s) {
    size_t n = strlen(s);
    return n == cur->len && core_memcmp(cur->ptr, s, n) == 0;
}

static int hexval(uint8_t c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool core_hex_decode(uint8_t *out, size_t out_len, const char *hex, size_t hex_len) {
    if (out_len > SIZE_MAX / 2 || hex_len != out_len * 2) {
        return false;
    }
    for (size_t i = 0; i < out_len; i++) {
        int hi = hexval((uint8_t)hex[2 * i]);
        int lo = hexval((uint8_t)hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = (uint8_t)((hi << 4) | lo);
    }
    return true;
}

void core_hex_encode(char *out, const uint8_t *in, size_t in_len) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < in_len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * in_len] = '\0';
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64val(uint8_t c) {
    const char *p = c ? strchr(b64chars, c) : NULL;
    return p ? (int)(p - b64chars) : -1;
}

bool core_b64_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *in,
                     size_t in_len) {
    if (in_len == 1 && in[0] == '=') {
        *out_len = 0;
        return true;
    }
    if (in_len % 4 != 0) {
        return false;
    }
    size_t n = 0;
    for (size_t i = 0; i < in_len; i += 4) {
        int v[4];
        size_t pad = 0;
        for (size_t j = 0; j < 4; j++) {
            uint8_t c = (uint8_t)in[i + j];
            if (c == '=') {
                // '=' only in the last group's last one or two positions.
                if (i + 4 != in_len || j < 2) {
                    return false;
                }
                pad++;
                v[j] = 0;
            } else {
                if (pad != 0) {
                    return false;
                }
                v[j] = b64val(c);
                if (v[j] < 0) {
                    return false;
                }
            }
        }
        uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) |
                     (uint32_t)v[3];
        size_t take = 3 - pad;
        if (n + take > out_cap) {
            return false;
        }
        out[n++] = (uint8_t)(w >> 16);
        if (take > 1) {
            out[n++] = (uint8_t)(w >> 8);
        }
        if (take > 2) {
            out[n++] = (uint8_t)w;
        }
    }
    *out_len = n;
    return true;
}

void core_b64_encode(char *out, const uint8_t *in, size_t in_len) {
    size_t o = 0;
    for (size_t i = 0; i < in_len; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16;
        if (i + 1 < in_len) {
            w |= (uint32_t)in[i + 1] << 8;
        }
        if (i + 2 < in_len) {
            w |= in[i + 2];
        }
        out[o++] = b64chars[(w >> 18) & 63];
        out[o++] = b64chars[(w >> 12) & 63];
        out[o++] = i + 1 < in_len ? b64chars[(w >> 6) & 63] : '=';
        out[o++] = i + 2 < in_len ? b64chars[w & 63] : '=';
    }
    out[o] = '\0';
}

void core_bld_init(core_bld_t *b, size_t max) {
    core_memset(b, 0, sizeof(*b));
    b->max = max;
}

void core_bld_cleanup(core_bld_t *b) {
    if (b == NULL) {
        return;
    }
    free(b->data);
    core_memset(b, 0, sizeof(*b));
}

void core_bld_reset(core_bld_t *b) {
    b->len = 0;
    b->failed = false;
}

static bool bld_reserve(core_bld_t *b, size_t n) {
    if (b->failed) {
        return false;
    }
    if (n > b->max || b->len > b->max - n) {
        b->failed = true;
        return false;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) {
            cap *= 2;
        }
        if (cap > b->max) {
            cap = b->max;
        }
        b->data = core_xrealloc(b->data, cap);
        b->cap = cap;
    }
    return true;
}

void core_bld_add(core_bld_t *b, const void *data, size_t len) {
    if (!bld_reserve(b, len)) {
        return;
    }
    core_memcpy(b->data + b->len, data, len);
    b->len += len;
}

void core_bld_add_str(core_bld_t *b, const char *s) {
    core_bld_add(b, s, strlen(s));
}

void core_bld_add_u8(core_bld_t *b, uint8_t v) {
    core_bld_add(b, &v, 1);
}

void core_bld_printf(core_bld_t *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof(tmp)) {
        core_bld_add(b, tmp, (size_t)n);
        return;
    }
    if (!bld_reserve(b, (size_t)n + 1)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void add_escaped(core_bld_t *b, const char *s, size_t len, bool attr) {
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '\'':
            rep = attr ? "&apos;" : NULL;
            break;
        case '"':
            rep = attr ? "&quot;" : NULL;
            break;
        // A parser normalises literal CR (and, in attribute values, TAB and LF) away: keep them
        // as character references so the peer string comes out unchanged.
        case '\r':
            rep = "&#13;";
            break;
        case '\n':
            rep = attr ? "&#10;" : NULL;
            break;
        case '\t':
            rep = attr ? "&#9;" : NULL;
            break;
        default:
            break;
        }
        if (rep != NULL) {
            core_bld_add(b, s + start, i - start);
            core_bld_add_str(b, rep);
            start = i + 1;
        }
    }
    core_bld_add(b, s + start, len - start);
}

void core_bld_add_xml_text(core_bld_t *b, const char *s, size_t len) {
    add_escaped(b, s, len, false);
}

void core_bld_add_xml_attr(core_bld_t *b, const char *s, size_t len) {
    add_escaped(b, s, len, true);
}

rc_t core_bld_finish(const core_bld_t *b) {
    return b->failed ? RC_ENOBUFS : RC_OK;
}

void core_buf_cleanup(core_buf_t *buf) {
    if (buf == NULL) {
        return;
    }
    free(buf->data);
    core_memset(buf, 0, sizeof(*buf));
}

uint8_t *core_buf_reserve(core_buf_t *buf, size_t n) {
    if (buf->len == 0) {
        buf->off = 0;
    }
    if (buf->off + buf->len + n > buf->cap) {
        if (buf->off != 0) {
            core_memmove(buf->data, buf->data + buf->off, buf->len);
            buf->off = 0;
        }
        if (buf->len + n > buf->cap) {
            size_t cap = buf->cap ? buf->cap : 4096;
            while (cap < buf->len + n) {
                cap *= 2;
            }
            buf->data = core_xrealloc(buf->data, cap);
            buf->cap = cap;
        }
    }
    return buf->data + buf->off + buf->len;
}

void core_buf_commit(core_buf_t *buf, size_t n) {
    RT_CHECK(buf->off + buf->len + n <= buf->cap);
    buf->len += n;
}

void core_buf_append(core_buf_t *buf, const void *data, size_t len) {
    uint8_t *p = core_buf_reserve(buf, len);
    core_memcpy(p, data, len);
    buf->len += len;
}

void core_buf_consume(core_buf_t *buf, size_t n) {
    RT_CHECK(n <= buf->len);
    buf->off += n;
    buf->len -= n;
    if (buf->len == 0) {
        buf->off = 0;
    }
}

void core_buf_shrink(core_buf_t *buf, size_t keep) {
    if (buf->len == 0 && buf->cap > keep) {
        free(buf->data);
        buf->data = NULL;
        buf->cap = 0;
        buf->off = 0;
    }
}
