/* botguard.model._campaign: the campaign book's kernel (see botguard/native.py).

   Its first piece: the served pages' (network, agent, page) hashes of a call, which the book's
   walk reads for every page request and its referer (botguard/model/_served.py). The pure twin
   and oracle is _served.pair_hash: the first 8 bytes of BLAKE2b (digest size 8, no key) of
   f"{net}\0{ua}\0{path}" in UTF-8, a lone surrogate written as "?" (errors="replace"), read as a
   little-endian integer; here BLAKE2b is RFC 7693's, so the bits are the same.

   Everything it reads comes from a log and is hostile: any length, NUL bytes, lone surrogates.
   An item that is not a str is formatted as the f-string formats it (format(x, "")); sequences
   of different lengths raise ValueError. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
   BLAKE2b (RFC 7693), unkeyed */

static const uint64_t IV[8] = {
    0x6A09E667F3BCC908ULL, 0xBB67AE8584CAA73BULL, 0x3C6EF372FE94F82BULL, 0xA54FF53A5F1D36F1ULL,
    0x510E527FADE682D1ULL, 0x9B05688C2B3E6C1FULL, 0x1F83D9ABFB41BD6BULL, 0x5BE0CD19137E2179ULL,
};

static const uint8_t SIGMA[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4}, {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13}, {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11}, {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5}, {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

typedef struct {
    uint8_t block[128];
    uint64_t h[8];
    uint64_t t[2]; /* bytes compressed so far (128-bit counter) */
    size_t fill;   /* bytes waiting in block */
} blake2b;

static uint64_t rotr(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

/* 8 bytes as a little-endian word (one load on a little-endian machine). */
static uint64_t load64(const uint8_t *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
#else
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
#endif
}

#define MIX(a, b, c, d, x, y)                                                                          \
    do {                                                                                               \
        v[a] = v[a] + v[b] + (x);                                                                      \
        v[d] = rotr(v[d] ^ v[a], 32);                                                                  \
        v[c] = v[c] + v[d];                                                                            \
        v[b] = rotr(v[b] ^ v[c], 24);                                                                  \
        v[a] = v[a] + v[b] + (y);                                                                      \
        v[d] = rotr(v[d] ^ v[a], 16);                                                                  \
        v[c] = v[c] + v[d];                                                                            \
        v[b] = rotr(v[b] ^ v[c], 63);                                                                  \
    } while (0)

static void compress(blake2b *s, int last) {
    uint64_t v[16], m[16];
    for (int i = 0; i < 8; i++) {
        v[i] = s->h[i];
        v[i + 8] = IV[i];
    }
    v[12] ^= s->t[0];
    v[13] ^= s->t[1];
    if (last) v[14] = ~v[14];
    for (int i = 0; i < 16; i++) m[i] = load64(s->block + 8 * i);
    for (int r = 0; r < 12; r++) {
        const uint8_t *o = SIGMA[r];
        MIX(0, 4, 8, 12, m[o[0]], m[o[1]]);
        MIX(1, 5, 9, 13, m[o[2]], m[o[3]]);
        MIX(2, 6, 10, 14, m[o[4]], m[o[5]]);
        MIX(3, 7, 11, 15, m[o[6]], m[o[7]]);
        MIX(0, 5, 10, 15, m[o[8]], m[o[9]]);
        MIX(1, 6, 11, 12, m[o[10]], m[o[11]]);
        MIX(2, 7, 8, 13, m[o[12]], m[o[13]]);
        MIX(3, 4, 9, 14, m[o[14]], m[o[15]]);
    }
    for (int i = 0; i < 8; i++) s->h[i] ^= v[i] ^ v[i + 8];
}

static void count(blake2b *s, size_t n) {
    s->t[0] += n;
    if (s->t[0] < n) s->t[1]++;
}

/* A state for a digest of `size` bytes (1..64), no key. */
static void start(blake2b *s, int size) {
    memcpy(s->h, IV, sizeof IV);
    s->h[0] ^= 0x01010000ULL ^ (uint64_t)size;
    s->t[0] = s->t[1] = 0;
    s->fill = 0;
}

/* A block is compressed only once more input follows: the last one is compressed by finish(). */
static void update(blake2b *s, const uint8_t *in, size_t n) {
    while (n > 0) {
        if (s->fill == sizeof s->block) {
            count(s, s->fill);
            compress(s, 0);
            s->fill = 0;
        }
        size_t take = sizeof s->block - s->fill;
        if (take > n) take = n;
        memcpy(s->block + s->fill, in, take);
        s->fill += take;
        in += take;
        n -= take;
    }
}

/* The digest's first 8 bytes as a little-endian integer. */
static uint64_t finish(blake2b *s) {
    count(s, s->fill);
    memset(s->block + s->fill, 0, sizeof s->block - s->fill);
    compress(s, 1);
    return s->h[0];
}

/* ---------------------------------------------------------------------------------------------
   triple_hashes(nets, uas, paths) -> bytes */

/* Add one field's UTF-8 bytes (lone surrogates as "?", what errors="replace" writes) to `s`;
   -1 with an exception set when it cannot be formatted. */
static int add_field(blake2b *s, PyObject *item) {
    PyObject *text = NULL;
    if (!PyUnicode_Check(item)) {
        PyObject *empty = PyUnicode_FromStringAndSize(NULL, 0);
        if (!empty) return -1;
        text = PyObject_Format(item, empty); /* what f"{item}" gives */
        Py_DECREF(empty);
        if (!text) return -1;
        if (!PyUnicode_Check(text)) {
            Py_DECREF(text);
            PyErr_SetString(PyExc_ValueError, "_campaign.triple_hashes: a field does not format as str");
            return -1;
        }
        item = text;
    }
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(item, &size);
    if (utf8) {
        update(s, (const uint8_t *)utf8, (size_t)size);
        Py_XDECREF(text);
        return 0;
    }
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        Py_XDECREF(text);
        return -1;
    }
    PyErr_Clear();
    PyObject *encoded = PyUnicode_AsEncodedString(item, "utf-8", "replace");
    Py_XDECREF(text);
    if (!encoded) return -1;
    update(s, (const uint8_t *)PyBytes_AS_STRING(encoded), (size_t)PyBytes_GET_SIZE(encoded));
    Py_DECREF(encoded);
    return 0;
}

static PyObject *triple_hashes(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *given[3];
    if (!PyArg_ParseTuple(args, "OOO", &given[0], &given[1], &given[2])) return NULL;
    PyObject *columns[3] = {NULL, NULL, NULL};
    PyObject *out = NULL;
    for (int k = 0; k < 3; k++) {
        /* a copy: formatting an item that is not a str may run Python code, which must not
           change the column under the loop */
        columns[k] = PySequence_Tuple(given[k]);
        if (!columns[k]) {
            if (!PyErr_ExceptionMatches(PyExc_TypeError)) goto done;
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "_campaign.triple_hashes: a column is not a sequence");
            goto done;
        }
    }
    Py_ssize_t n = PyTuple_GET_SIZE(columns[0]);
    if (PyTuple_GET_SIZE(columns[1]) != n || PyTuple_GET_SIZE(columns[2]) != n) {
        PyErr_SetString(PyExc_ValueError, "_campaign.triple_hashes: the columns' lengths differ");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(uint64_t));
    if (!out) goto done;
    uint64_t *hashes = (uint64_t *)PyBytes_AS_STRING(out);
    static const uint8_t nul = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        blake2b s;
        start(&s, 8);
        for (int k = 0; k < 3; k++) {
            if (k) update(&s, &nul, 1);
            if (add_field(&s, PyTuple_GET_ITEM(columns[k], i)) < 0) {
                Py_CLEAR(out);
                goto done;
            }
        }
        hashes[i] = finish(&s);
    }
done:
    for (int k = 0; k < 3; k++) Py_XDECREF(columns[k]);
    return out;
}

static PyMethodDef methods[] = {
    {"triple_hashes", triple_hashes, METH_VARARGS,
     "triple_hashes(nets, uas, paths) -> bytes: each (net, ua, path)'s _served.pair_hash as native uint64."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_campaign", "The campaign book's kernel.", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__campaign(void) { return PyModule_Create(&module); }
