/*
 * ref_decode: time Apple's reference LZFSE/LZVN C decoder (lzfse_decode_buffer)
 * decoding one stream ONCE into a pre-sized buffer, as kcheck does.
 *
 *   ref_decode STREAM SIZE [REPS] [EXPECT]
 *
 * STREAM  a complete LZFSE stream: `bvx2`/`bvx1` blocks (an IM4P/LZFSE
 *         payload), or a raw LZVN stream wrapped in a `bvxn` block header and a
 *         `bvx$` end-of-stream marker (decode_reference.py --write-stream
 *         writes these from a kernel cache; the wrapping is not timed).
 * SIZE    the decoded size the container declares.
 * REPS    decodes to time (default 5); each goes into a fresh malloc'd buffer
 *         of SIZE + 4096 bytes, so the page faults of the output buffer are
 *         counted as they are for kcheck. The scratch buffer is allocated once.
 * EXPECT  a file the output must equal byte for byte (checked after timing).
 *
 * Only the lzfse_decode_buffer call is timed, with clock_gettime
 * (CLOCK_MONOTONIC). Prints one line:
 *
 *   ref-decode-c REPS MIN MEDIAN MAX SIZE
 *
 * (seconds). Exit status 0, 1 when the output is wrong, 2 on a usage or I/O
 * error. Built by bench/compare.sh against the C sources of the `lzfse`
 * package's sdist (Apple's reference implementation, BSD-3-Clause):
 *   cc -O2 -I SRC bench/ref_decode.c SRC/lzfse_decode.c
 *      SRC/lzfse_decode_base.c SRC/lzfse_fse.c SRC/lzvn_decode_base.c
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lzfse.h"

static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        perror(path);
        fclose(f);
        return NULL;
    }
    long n = ftell(f);
    rewind(f);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "ref_decode: cannot read %s\n", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: ref_decode STREAM SIZE [REPS] [EXPECT]\n");
        return 2;
    }
    size_t stream_len = 0;
    uint8_t *stream = read_file(argv[1], &stream_len);
    if (!stream)
        return 2;
    char *end = NULL;
    unsigned long long size = strtoull(argv[2], &end, 10);
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    if (*end != '\0' || size == 0 || reps < 1) {
        fprintf(stderr, "ref_decode: bad SIZE or REPS\n");
        return 2;
    }
    const size_t cap = (size_t)size + 4096;
    void *scratch = malloc(lzfse_decode_scratch_size() + 1);
    double *t = calloc((size_t)reps, sizeof *t);
    if (!scratch || !t) {
        fprintf(stderr, "ref_decode: out of memory\n");
        return 2;
    }
    int rc = 0;
    for (int r = 0; r < reps; r++) {
        uint8_t *out = malloc(cap);
        if (!out) {
            fprintf(stderr, "ref_decode: cannot allocate %zu bytes\n", cap);
            return 2;
        }
        double t0 = now();
        size_t n = lzfse_decode_buffer(out, cap, stream, stream_len, scratch);
        double t1 = now();
        t[r] = t1 - t0;
        if (n != size) {
            fprintf(stderr, "ref_decode: decoded %zu bytes, expected %llu\n", n, size);
            rc = 1;
        } else if (r == reps - 1 && argc > 4) {
            size_t want_len = 0;
            uint8_t *want = read_file(argv[4], &want_len);
            if (!want)
                return 2;
            if (want_len != n || memcmp(want, out, n) != 0) {
                fprintf(stderr, "ref_decode: output differs from %s\n", argv[4]);
                rc = 1;
            }
            free(want);
        }
        free(out);
        if (rc)
            break;
    }
    if (rc)
        return rc;
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    double median = reps % 2 ? t[reps / 2] : (t[reps / 2 - 1] + t[reps / 2]) / 2;
    printf("ref-decode-c %d %.6f %.6f %.6f %llu\n", reps, t[0], median, t[reps - 1], size);
    free(t);
    free(scratch);
    free(stream);
    return 0;
}
