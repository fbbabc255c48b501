#include "router/core/mem.h"

#include <stdio.h>
#include <stdlib.h>

static void oom(size_t len) {
    fprintf(stderr, "fedrouter: out of memory allocating %zu bytes\n", len);
    abort();
}

void *core_xmalloc(size_t len) {
    void *p = malloc(len == 0 ? 1 : len);
    if (p == NULL) {
        oom(len);
    }
    return p;
}

void *core_xcalloc(size_t num, size_t len) {
    void *p = calloc(num == 0 ? 1 : num, len == 0 ? 1 : len);
    if (p == NULL) {
        oom(num * len);
    }
    return p;
}

void *core_xrealloc(void *ptr, size_t len) {
    void *p = realloc(ptr, len == 0 ? 1 : len);
    if (p == NULL) {
        oom(len);
    }
    return p;
}

char *core_xstrdup(const char *s) {
    return core_xstrndup(s, strlen(s));
}

char *core_xstrndup(const char *s, size_t len) {
    char *p = core_xmalloc(len + 1);
    core_memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void core_check_failed(const char *file, int line, const char *expr) {
    fprintf(stderr, "fedrouter: check failed at %s:%d: %s\n", file, line, expr);
    abort();
}

bool core_ct_equal(const void *a, const void *b, size_t len) {
    const volatile uint8_t *x = a;
    const volatile uint8_t *y = b;
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++) {
        acc |= (uint8_t)(x[i] ^ y[i]);
    }
    return acc == 0;
}

bool core_ascii_lower_eq(const char *a, size_t a_len, const char *b, size_t b_len) {
    if (a_len != b_len) {
        return false;
    }
    for (size_t i = 0; i < a_len; i++) {
        unsigned char x = (unsigned char)a[i];
        unsigned char y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') {
            x = (unsigned char)(x + 32);
        }
        if (y >= 'A' && y <= 'Z') {
            y = (unsigned char)(y + 32);
        }
        if (x != y) {
            return false;
        }
    }
    return true;
}
