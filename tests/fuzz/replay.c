// replay.c: runs a fuzz target's LLVMFuzzerTestOneInput over files without libFuzzer, so every
// corpus also runs under plain ctest (KNOT tests-fuzz/main.c). Usage: fuzz_replay_<name> PATH...
// where each PATH is a file or a directory whose regular files are all run. Exits 0 when every
// input ran (a crash or sanitizer report ends the process), 1 on an unreadable path, 77 when no
// input was found.
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

// replay_file runs one input; false when it cannot be read.
static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0;
    size_t cap = 0;
    int ok = 0;
    if (f == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        goto out;
    }
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *p = realloc(buf, cap);
            if (p == NULL) {
                goto out;
            }
            buf = p;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(f)) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        goto out;
    }
    // Copy into an exact-size buffer so ASan sees reads past the end.
    uint8_t *exact = malloc(len ? len : 1);
    if (exact == NULL) {
        goto out;
    }
    if (len != 0) {
        memcpy(exact, buf, len);
    }
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    ok = 1;
out:
    if (f != NULL) {
        fclose(f);
    }
    free(buf);
    return ok;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    size_t runs = 0;
    int rc = 0;
    if (LLVMFuzzerInitialize != NULL) {
        LLVMFuzzerInitialize(&argc, &argv);
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: no such path %s\n", argv[i]);
            rc = 1;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (!replay_file(argv[i])) {
                rc = 1;
            }
            runs++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (d == NULL) {
            rc = 1;
            continue;
        }
        char **names = NULL;
        size_t num = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') {
                continue;
            }
            char **p = realloc(names, (num + 1) * sizeof(*names));
            if (p == NULL) {
                break;
            }
            names = p;
            size_t n = strlen(argv[i]) + strlen(e->d_name) + 2;
            names[num] = malloc(n);
            if (names[num] == NULL) {
                break;
            }
            snprintf(names[num], n, "%s/%s", argv[i], e->d_name);
            num++;
        }
        closedir(d);
        if (num > 1) {
            qsort(names, num, sizeof(*names), cmp_str); // stable order for reproducible runs
        }
        for (size_t j = 0; j < num; j++) {
            struct stat fst;
            if (stat(names[j], &fst) == 0 && S_ISREG(fst.st_mode)) {
                if (!replay_file(names[j])) {
                    rc = 1;
                }
                runs++;
            }
            free(names[j]);
        }
        free(names);
    }
    fprintf(stderr, "replay: %zu inputs\n", runs);
    if (rc == 0 && runs == 0) {
        return 77;
    }
    return rc;
}
