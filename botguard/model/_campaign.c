/* botguard.model._campaign: the campaign book's kernel (see botguard/native.py).

   Its pieces: the served pages' (network, agent, page) hashes of a call, which the book's walk
   reads for every page request and its referer (botguard/model/_served.py); and the burst
   rings (BurstRing, below), each burst key's window of new bare clients and usual rate.

   The hashes' pure twin and oracle is _served.pair_hash: the first 8 bytes of BLAKE2b (digest
   size 8, no key) of f"{net}\0{ua}\0{path}" in UTF-8, a lone surrogate written as "?"
   (errors="replace"), read as a little-endian integer; here BLAKE2b is RFC 7693's, so the bits
   are the same. Everything they read comes from a log and is hostile: any length, NUL bytes,
   lone surrogates. An item that is not a str is formatted as the f-string formats it
   (format(x, "")); sequences of different lengths raise ValueError. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <stdlib.h>
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

/* ---------------------------------------------------------------------------------------------
   BurstRing: one burst key's window of new bare clients and its usual rate (campaigns.Burst),
   worked by one call per arrival. Its twin and oracle is CampaignBook._ring_arrive; the float
   steps are the twin's, in its order (-ffp-contract=off: no fused multiply-add), and Python's
   min/max and math.exp semantics are kept (min(a, b) is a unless b < a; an exp that overflows
   from a finite argument raises OverflowError, as math.exp does).

   Only numbers cross in: stream times and client ids (the book's interned (ip, agent) numbers);
   whether each id is bare is one byte of the book's bytearray, passed to each arrival. */

typedef struct {
    double t;
    Py_ssize_t client;
} Arrival;

typedef struct {
    PyObject_HEAD
    Arrival *ring;    /* the window: `len` arrivals from `head`, in time order, wrapping at `cap` */
    Py_ssize_t cap, head, len;
    double mass, mass_at, expected, qualified_at;
    int qualified;    /* qualified_at is None when 0 */
    double span, tau, floor, least, lift, shrink, most, short_of; /* the rules (see PARAMS) */
} BurstRing;

#define PARAMS "burst_window, tau, baseline_floor, burst_min, burst_lift, shrink, cap, short_of"

static double py_min(double a, double b) { return b < a ? b : a; }
static double py_max(double a, double b) { return b > a ? b : a; }

static Arrival *at(BurstRing *r, Py_ssize_t k) { return &r->ring[(r->head + k) % r->cap]; }

static int ring_push(BurstRing *r, double t, Py_ssize_t client) {
    if (r->len == r->cap) {
        Py_ssize_t cap = r->cap ? 2 * r->cap : 8;
        if (cap > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(Arrival)) {
            PyErr_NoMemory();
            return -1;
        }
        Arrival *grown = PyMem_Malloc((size_t)cap * sizeof(Arrival));
        if (!grown) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t k = 0; k < r->len; k++) grown[k] = *at(r, k);
        PyMem_Free(r->ring);
        r->ring = grown;
        r->cap = cap;
        r->head = 0;
    }
    r->ring[(r->head + r->len) % r->cap] = (Arrival){t, client};
    r->len++;
    return 0;
}

static int ring_init(BurstRing *r, PyObject *args, PyObject *kwds) {
    static char *names[] = {"mass_at", "rules", NULL};
    PyObject *rules;
    double mass_at;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "dO", names, &mass_at, &rules)) return -1;
    if (!PyTuple_Check(rules) || PyTuple_GET_SIZE(rules) != 8) {
        PyErr_SetString(PyExc_ValueError, "BurstRing: rules must be a tuple of 8 numbers (" PARAMS ")");
        return -1;
    }
    double v[8];
    for (int k = 0; k < 8; k++) {
        v[k] = PyFloat_AsDouble(PyTuple_GET_ITEM(rules, k));
        if (v[k] == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "BurstRing: a rule is not a number");
            return -1;
        }
    }
    r->span = v[0], r->tau = v[1], r->floor = v[2], r->least = v[3];
    r->lift = v[4], r->shrink = v[5], r->most = v[6], r->short_of = v[7];
    r->mass = 0.0, r->mass_at = mass_at, r->expected = 0.0, r->qualified_at = 0.0, r->qualified = 0;
    r->head = r->len = 0;
    return 0;
}

static void ring_dealloc(BurstRing *r) {
    PyMem_Free(r->ring);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

/* An id's bare byte, or -1 with ValueError for an id outside the bytearray. */
static int bare_of(const char *bare, Py_ssize_t n, Py_ssize_t client) {
    if (client < 0 || client >= n) {
        PyErr_SetString(PyExc_ValueError, "BurstRing: a client id outside the bare flags");
        return -1;
    }
    return bare[client] != 0;
}

static int by_client(const void *a, const void *b) {
    const Arrival *x = a, *y = b; /* here .t holds the arrival's place in the window */
    if (x->client != y->client) return x->client < y->client ? -1 : 1;
    return x->t < y->t ? -1 : x->t > y->t;
}

/* The window's bare members, each once, in the order of their first arrival: a tuple of ids. */
static PyObject *bare_members(BurstRing *r, const char *bare, Py_ssize_t nbare) {
    Arrival *seen = PyMem_Malloc((size_t)(r->len ? r->len : 1) * sizeof(Arrival));
    char *first = PyMem_Malloc((size_t)(r->len ? r->len : 1));
    PyObject *out = NULL;
    if (!seen || !first) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t m = 0;
    for (Py_ssize_t k = 0; k < r->len; k++) {
        first[k] = 0;
        int b = bare_of(bare, nbare, at(r, k)->client);
        if (b < 0) goto done;
        if (b) seen[m++] = (Arrival){(double)k, at(r, k)->client};
    }
    qsort(seen, (size_t)m, sizeof(Arrival), by_client);
    Py_ssize_t distinct = 0;
    for (Py_ssize_t j = 0; j < m; j++) {
        if (j == 0 || seen[j].client != seen[j - 1].client) {
            first[(Py_ssize_t)seen[j].t] = 1;
            distinct++;
        }
    }
    out = PyTuple_New(distinct);
    if (!out) goto done;
    for (Py_ssize_t k = 0, j = 0; k < r->len; k++) {
        if (!first[k]) continue;
        PyObject *id = PyLong_FromSsize_t(at(r, k)->client);
        if (!id) {
            Py_CLEAR(out);
            goto done;
        }
        PyTuple_SET_ITEM(out, j++, id);
    }
done:
    PyMem_Free(seen);
    PyMem_Free(first);
    return out;
}

/* arrive(t, client, bare) -> None | (excess, qualifies, expected, members): CampaignBook._ring_arrive. */
static PyObject *ring_arrive(BurstRing *r, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_ValueError, "BurstRing.arrive(t, client, bare) takes 3 arguments");
        return NULL;
    }
    if (!PyFloat_CheckExact(args[0]) || !PyLong_CheckExact(args[1]) || !PyByteArray_CheckExact(args[2])) {
        PyErr_SetString(PyExc_ValueError, "BurstRing.arrive: wants (float, int, bytearray)");
        return NULL;
    }
    double t = PyFloat_AS_DOUBLE(args[0]);
    Py_ssize_t client = PyLong_AsSsize_t(args[1]);
    if (client == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "BurstRing.arrive: a client id out of range");
        return NULL;
    }
    const char *bare = PyByteArray_AS_STRING(args[2]);
    Py_ssize_t nbare = PyByteArray_GET_SIZE(args[2]);
    if (bare_of(bare, nbare, client) < 0) return NULL;
    while (r->len && r->ring[r->head].t < t - r->span) {
        r->head = (r->head + 1) % r->cap;
        r->len--;
    }
    if (ring_push(r, t, client) < 0) return NULL;
    double x = -(t - r->mass_at) / r->tau;
    double fade = exp(x);
    if (isinf(fade) && isfinite(x)) {
        PyErr_SetString(PyExc_OverflowError, "math range error");
        return NULL;
    }
    r->mass *= fade;
    r->mass_at = t;
    double expected = py_max(r->floor, r->mass / r->tau * r->span);
    double len = (double)r->len;
    int is_short = len < r->least || len < r->lift * expected;
    int counted = !is_short || len > expected + r->shrink;
    PyObject *members = counted ? bare_members(r, bare, nbare) : PyTuple_New(0);
    if (!members) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(members);
    double excess = n ? py_max(0.0, py_min(r->most, 1.0 - (expected + r->shrink) / (double)n)) : 0.0;
    excess = py_min(excess, r->short_of);
    int qualifies = !is_short && (double)n >= r->least && (double)n >= r->lift * expected;
    if (qualifies) {
        if (!r->qualified) r->qualified = 1, r->qualified_at = t, r->expected = expected;
    } else {
        r->qualified = 0;
    }
    r->mass += 1.0;
    if (excess <= 0.0 && !qualifies) {
        Py_DECREF(members);
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(dOdN)", excess, qualifies ? Py_True : Py_False, expected, members);
}

/* push(t, client): append an arrival to the window as it is (a snapshot's window, loaded). */
static PyObject *ring_push_py(BurstRing *r, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_ValueError, "BurstRing.push(t: float, client: int)");
        return NULL;
    }
    double t = PyFloat_AsDouble(args[0]);
    if (t == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "BurstRing.push: a time that is not a number");
        return NULL;
    }
    Py_ssize_t client = PyLong_AsSsize_t(args[1]);
    if ((client == -1 && PyErr_Occurred()) || client < 0) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "BurstRing.push: a client id out of range");
        return NULL;
    }
    if (ring_push(r, t, client) < 0) return NULL;
    Py_RETURN_NONE;
}

/* renumber(new): each arrival's client id c becomes new[c] (an int64 buffer; the book compacts
   its ids). Checked in full before anything changes. */
static PyObject *ring_renumber(BurstRing *r, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "BurstRing.renumber: wants a contiguous int64 buffer");
        return NULL;
    }
    PyObject *out = NULL;
    if (view.itemsize != 8 || !view.format || (strcmp(view.format, "q") && strcmp(view.format, "l") &&
                                               strcmp(view.format, "<q") && strcmp(view.format, "=q"))) {
        PyErr_SetString(PyExc_ValueError, "BurstRing.renumber: wants a contiguous int64 buffer");
        goto done;
    }
    const int64_t *table = view.buf;
    Py_ssize_t n = view.len / 8;
    for (Py_ssize_t k = 0; k < r->len; k++) {
        Py_ssize_t c = at(r, k)->client;
        if (c < 0 || c >= n || table[c] < 0) {
            PyErr_SetString(PyExc_ValueError, "BurstRing.renumber: a client id the table does not map");
            goto done;
        }
    }
    for (Py_ssize_t k = 0; k < r->len; k++) at(r, k)->client = (Py_ssize_t)table[at(r, k)->client];
    out = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&view);
    return out;
}

static PyObject *ring_window(BurstRing *r, void *closure) {
    (void)closure;
    PyObject *out = PyList_New(r->len);
    if (!out) return NULL;
    for (Py_ssize_t k = 0; k < r->len; k++) {
        PyObject *item = Py_BuildValue("(dn)", at(r, k)->t, at(r, k)->client);
        if (!item) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, k, item);
    }
    return out;
}

static PyObject *ring_newest(BurstRing *r, void *closure) {
    (void)closure;
    if (!r->len) Py_RETURN_NONE;
    return PyFloat_FromDouble(at(r, r->len - 1)->t);
}

static PyObject *ring_get_qualified_at(BurstRing *r, void *closure) {
    (void)closure;
    if (!r->qualified) Py_RETURN_NONE;
    return PyFloat_FromDouble(r->qualified_at);
}

static int ring_set_qualified_at(BurstRing *r, PyObject *value, void *closure) {
    (void)closure;
    if (value == NULL || value == Py_None) {
        r->qualified = 0;
        return 0;
    }
    double v = PyFloat_AsDouble(value);
    if (v == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "BurstRing.qualified_at: None or a number");
        return -1;
    }
    r->qualified = 1, r->qualified_at = v;
    return 0;
}

static PyMethodDef ring_methods[] = {
    {"arrive", (PyCFunction)(void (*)(void))ring_arrive, METH_FASTCALL,
     "arrive(t, client, bare) -> None | (excess, qualifies, expected, members)"},
    {"push", (PyCFunction)(void (*)(void))ring_push_py, METH_FASTCALL, "push(t, client): a loaded arrival"},
    {"renumber", (PyCFunction)ring_renumber, METH_O, "renumber(int64 table): client ids renumbered"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef ring_members[] = {
    {"mass", T_DOUBLE, offsetof(BurstRing, mass), 0, "decayed count of earlier arrivals"},
    {"mass_at", T_DOUBLE, offsetof(BurstRing, mass_at), 0, "when mass was last decayed"},
    {"expected", T_DOUBLE, offsetof(BurstRing, expected), 0, "the usual rate when it qualified"},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef ring_getset[] = {
    {"window", (getter)ring_window, NULL, "the window's (t, client id) arrivals, oldest first", NULL},
    {"newest", (getter)ring_newest, NULL, "the time of the window's last arrival (None: empty)", NULL},
    {"qualified_at", (getter)ring_get_qualified_at, (setter)ring_set_qualified_at, "None or a time", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject BurstRingType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "botguard.model._campaign.BurstRing",
    .tp_basicsize = sizeof(BurstRing),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "BurstRing(mass_at, rules): one burst key's window and usual rate (campaigns.Burst).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)ring_init,
    .tp_dealloc = (destructor)ring_dealloc,
    .tp_methods = ring_methods,
    .tp_members = ring_members,
    .tp_getset = ring_getset,
};

static PyMethodDef methods[] = {
    {"triple_hashes", triple_hashes, METH_VARARGS,
     "triple_hashes(nets, uas, paths) -> bytes: each (net, ua, path)'s _served.pair_hash as native uint64."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_campaign", "The campaign book's kernel.", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__campaign(void) {
    if (PyType_Ready(&BurstRingType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "BurstRing", (PyObject *)&BurstRingType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
