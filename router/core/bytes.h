// bytes.h: bounded cursor for parsing untrusted bytes, builder for output, and a growable I/O
// buffer (STYLE.md §7). Thread: an object is used by one thread at a time.
#ifndef RT_ROUTER_CORE_BYTES_H
#define RT_ROUTER_CORE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "router/core/mem.h"
#include "router/core/rc.h"

// core_cur_t is a borrowed (ptr, len) view. Every read returns bool; on failure the cursor and the
// outputs are unchanged.
typedef struct core_cur {
    const uint8_t *ptr;
    size_t len;
} core_cur_t;

static inline void core_cur_init(core_cur_t *cur, const void *data, size_t len) {
    cur->ptr = data;
    cur->len = len;
}
static inline bool core_cur_empty(const core_cur_t *cur) {
    return cur->len == 0;
}
// core_cur_skip advances |n| bytes.
RT_MUSTCHECK bool core_cur_skip(core_cur_t *cur, size_t n);
// core_cur_get_u8/u16/u32 read big-endian integers.
RT_MUSTCHECK bool core_cur_get_u8(core_cur_t *cur, uint8_t *out);
RT_MUSTCHECK bool core_cur_get_u16(core_cur_t *cur, uint16_t *out);
RT_MUSTCHECK bool core_cur_get_u32(core_cur_t *cur, uint32_t *out);
// core_cur_get_bytes takes a child cursor of |n| bytes.
RT_MUSTCHECK bool core_cur_get_bytes(core_cur_t *cur, core_cur_t *out, size_t n);
// core_cur_get_u8_prefixed / u16_prefixed take a length-prefixed child cursor.
RT_MUSTCHECK bool core_cur_get_u8_prefixed(core_cur_t *cur, core_cur_t *out);
RT_MUSTCHECK bool core_cur_get_u16_prefixed(core_cur_t *cur, core_cur_t *out);
// core_cur_get_until takes the bytes before the first |c| as a child cursor and consumes |c| too.
// Fails when |c| does not occur.
RT_MUSTCHECK bool core_cur_get_until(core_cur_t *cur, core_cur_t *out, uint8_t c);
// core_cur_get_decimal reads a strict decimal: digits only, no sign, no leading zero (except "0"),
// value <= |max|. Consumes all of the cursor's remaining digits.
RT_MUSTCHECK bool core_cur_get_decimal(core_cur_t *cur, uint64_t max, uint64_t *out);
// core_cur_match consumes the literal |lit| of |lit_len| bytes if the cursor starts with it.
RT_MUSTCHECK bool core_cur_match(core_cur_t *cur, const void *lit, size_t lit_len);
// core_cur_eq_str is true when the whole cursor equals NUL-terminated |s|.
bool core_cur_eq_str(const core_cur_t *cur, const char *s);

// core_hex_decode decodes exactly |out_len| bytes from 2*|out_len| hex digits (either case).
RT_MUSTCHECK bool core_hex_decode(uint8_t *out, size_t out_len, const char *hex, size_t hex_len);
// core_hex_encode writes 2*|in_len| lowercase hex digits and a NUL into |out| (size 2*in_len+1).
void core_hex_encode(char *out, const uint8_t *in, size_t in_len);
// core_b64_decode strictly decodes RFC 4648 base64 (no whitespace, '=' only at the end) into
// |out| (capacity |out_cap|); |*out_len| receives the length. "=" alone decodes to empty.
RT_MUSTCHECK bool core_b64_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *in,
                                  size_t in_len);
// core_b64_encode writes base64 of |in| and a NUL into |out| (capacity >= 4*ceil(in_len/3)+1).
void core_b64_encode(char *out, const uint8_t *in, size_t in_len);

// core_bld_t builds output. Its error is sticky and checked once at core_bld_finish. It owns a
// heap buffer that grows up to |max| bytes.
typedef struct core_bld {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;
    bool failed;
} core_bld_t;

// core_bld_init prepares an empty builder that will refuse to grow past |max| bytes.
void core_bld_init(core_bld_t *b, size_t max);
// core_bld_cleanup frees the buffer. Accepts a zeroed builder.
void core_bld_cleanup(core_bld_t *b);
void core_bld_reset(core_bld_t *b);
void core_bld_add(core_bld_t *b, const void *data, size_t len);
void core_bld_add_str(core_bld_t *b, const char *s);
void core_bld_add_u8(core_bld_t *b, uint8_t v);
void core_bld_printf(core_bld_t *b, const char *fmt, ...) RT_PRINTF(2, 3);
// core_bld_add_xml_text / _attr escape |s| for XML character data / a quoted attribute value.
// These are the only path for peer strings into XML output.
void core_bld_add_xml_text(core_bld_t *b, const char *s, size_t len);
void core_bld_add_xml_attr(core_bld_t *b, const char *s, size_t len);
// core_bld_finish returns RC_OK or RC_ENOBUFS if any add failed. The bytes stay in |b->data|.
RT_MUSTCHECK rc_t core_bld_finish(const core_bld_t *b);

// core_buf_t is a growable byte queue for I/O: bytes are appended at the end and consumed from
// the front. Growth is bounded by the caller (check core_buf_len before appending peer data).
typedef struct core_buf {
    uint8_t *data;
    size_t off; // first unconsumed byte
    size_t len; // unconsumed bytes from |off|
    size_t cap;
} core_buf_t;

void core_buf_cleanup(core_buf_t *buf);
static inline size_t core_buf_len(const core_buf_t *buf) {
    return buf->len;
}
static inline uint8_t *core_buf_head(const core_buf_t *buf) {
    return buf->data + buf->off;
}
// core_buf_reserve makes room for |n| more bytes and returns where to write them; commit them
// with core_buf_commit.
uint8_t *core_buf_reserve(core_buf_t *buf, size_t n);
void core_buf_commit(core_buf_t *buf, size_t n);
void core_buf_append(core_buf_t *buf, const void *data, size_t len);
void core_buf_consume(core_buf_t *buf, size_t n);
// core_buf_shrink frees the storage of an empty buffer whose capacity exceeds |keep|.
void core_buf_shrink(core_buf_t *buf, size_t keep);

#endif
