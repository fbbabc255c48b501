// mem.h: allocation and memory helpers (STYLE.md §5).
#ifndef RT_ROUTER_CORE_MEM_H
#define RT_ROUTER_CORE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RT_MUSTCHECK __attribute__((warn_unused_result))
#define RT_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#define RT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define RT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

// core_xmalloc/xcalloc/xrealloc/xstrdup abort on out-of-memory. Use them only for sizes that no
// peer influences; peer-sized allocations go through a budget first. Thread: any.
void *core_xmalloc(size_t len);
void *core_xcalloc(size_t num, size_t len);
void *core_xrealloc(void *ptr, size_t len);
char *core_xstrdup(const char *s);
char *core_xstrndup(const char *s, size_t len);

// RT_CHECK aborts (release builds too) when |cond| is false: for corruption only.
#define RT_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            core_check_failed(__FILE__, __LINE__, #cond);                                          \
        }                                                                                          \
    } while (0)
__attribute__((noreturn)) void core_check_failed(const char *file, int line, const char *expr);

// NULL-safe wrappers: accept (NULL, 0).
static inline void core_memcpy(void *dst, const void *src, size_t len) {
    if (len != 0) {
        memcpy(dst, src, len);
    }
}
static inline void core_memmove(void *dst, const void *src, size_t len) {
    if (len != 0) {
        memmove(dst, src, len);
    }
}
static inline int core_memcmp(const void *a, const void *b, size_t len) {
    return len == 0 ? 0 : memcmp(a, b, len);
}
static inline void core_memset(void *dst, int c, size_t len) {
    if (len != 0) {
        memset(dst, c, len);
    }
}

// core_ct_equal compares |len| bytes in constant time. Thread: any.
bool core_ct_equal(const void *a, const void *b, size_t len);

// core_ascii_lower_eq compares two byte strings case-insensitively (ASCII only).
bool core_ascii_lower_eq(const char *a, size_t a_len, const char *b, size_t b_len);

#endif
