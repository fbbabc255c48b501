// t.h: the minimal unit-test helpers shared by tests/unit (t_ prefix). A test program exits 0
// on pass, 1 on the first failed assertion, 77 to skip (CTest SKIP_RETURN_CODE).
#ifndef RT_TESTS_SUPPORT_T_H
#define RT_TESTS_SUPPORT_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_SKIP 77

#define T_ASSERT(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond);           \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define T_ASSERT_STREQ(a, b)                                                                       \
    do {                                                                                           \
        const char *t_a_ = (a), *t_b_ = (b);                                                       \
        if (t_a_ == NULL || t_b_ == NULL || strcmp(t_a_, t_b_) != 0) {                             \
            fprintf(stderr, "%s:%d: expected \"%s\" == \"%s\"\n", __FILE__, __LINE__,              \
                    t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");                               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define T_ASSERT_EQ(a, b)                                                                          \
    do {                                                                                           \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                    \
        if (t_a_ != t_b_) {                                                                        \
            fprintf(stderr, "%s:%d: expected %s == %s (%lld != %lld)\n", __FILE__, __LINE__, #a,   \
                    #b, t_a_, t_b_);                                                               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#endif
