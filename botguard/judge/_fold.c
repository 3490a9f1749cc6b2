/* botguard.judge._fold: the aggregator's compiled kernel (see botguard/native.py).

   group_ids(strings, numbers=None) -> (ids, firsts)

   Numbers each row of a string column (read through the Arrow C stream interface, polars'
   __arrow_c_stream__) by its key's first appearance: the key is the row's string (null is a
   key of its own, apart from "") and, when `numbers` is given (a buffer of one uint32 per row),
   that row's number too. Returns two bytes objects of native uint32: the id of every row, and
   for each id the row it first appears at. The pure twin is botguard.judge._ids.group_ids_pure;
   the tests compare the two.

   Everything read is bounded: row counts, offsets and view lengths are checked against the
   buffers they index before a byte is read, and counts that do not fit in uint32 are refused. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "_arrow_c.h"

enum layout { OFFSETS32, OFFSETS64, VIEWS };

/* One distinct key: where its first row's bytes are (valid while the chunks are held). */
typedef struct {
    const uint8_t *data;
    uint32_t size;
    uint32_t number;
    uint8_t null;
} key_t_;

typedef struct {
    uint64_t *hashes; /* 0: empty slot (a hash of 0 is stored as 1) */
    uint32_t *ids;
    size_t capacity;  /* a power of two */
    key_t_ *keys;
    uint32_t *firsts;
    size_t count;
    size_t keys_capacity;
} table_t;

/* 64x64 -> 128-bit multiply, folded: one multiply mixes 16 bytes (as wyhash does). */
static inline uint64_t mum(uint64_t a, uint64_t b) {
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t read64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Drawn once per process (PyInit__fold) and mixed into every string's hash. The tables probe
   linearly, so strings whose hashes share their low bits fall in one cluster that every lookup
   walks; with fixed seeds, whoever reads this file can search for request paths that do (a few
   thousand take a second of C) and make each batch's numbering cost ~100x. Numbers are given in
   first-seen order and no hash leaves this module, so no result depends on the seed. */
static uint64_t process_seed;

static uint64_t draw_seed(void) {
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed || seed == 0) {
        seed = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)&seed;
    }
    return seed;
}

static uint64_t hash_bytes(const uint8_t *data, size_t size, uint64_t seed) {
    const uint64_t k0 = 0xA0761D6478BD642FULL, k1 = 0xE7037ED1A0B428DBULL, k2 = 0x8EBC6AF09C88C6E3ULL;
    uint64_t h = seed ^ process_seed ^ mum(size ^ k0, k1);
    while (size > 16) {
        h = mum(read64(data) ^ k1, read64(data + 8) ^ h);
        data += 16;
        size -= 16;
    }
    uint64_t a = 0, b = 0;
    if (size >= 8) {
        a = read64(data);
        b = read64(data + size - 8);
    } else if (size > 0) {
        memcpy(&a, data, size);
    }
    h = mum(a ^ k2 ^ h, b ^ k0);
    h = mum(h ^ k1, size ^ k2) ^ h;
    return h ? h : 1;
}

static int table_init(table_t *t) {
    memset(t, 0, sizeof *t);
    t->capacity = 1024;
    t->hashes = calloc(t->capacity, sizeof *t->hashes);
    t->ids = malloc(t->capacity * sizeof *t->ids);
    t->keys_capacity = 512;
    t->keys = malloc(t->keys_capacity * sizeof *t->keys);
    t->firsts = malloc(t->keys_capacity * sizeof *t->firsts);
    return t->hashes && t->ids && t->keys && t->firsts ? 0 : -1;
}

static void table_free(table_t *t) {
    free(t->hashes);
    free(t->ids);
    free(t->keys);
    free(t->firsts);
}

/* Re-insert an open-addressing index (hash, value; hash 0: empty) of `old_capacity` slots
   into zeroed arrays of `capacity` slots (a power of two): grow_index and running_grow_table. */
static void reinsert(const uint64_t *old_hashes, const uint32_t *old_values, size_t old_capacity,
                     uint64_t *hashes, uint32_t *values, size_t capacity) {
    for (size_t i = 0; i < old_capacity; i++) {
        if (!old_hashes[i]) continue;
        size_t at = old_hashes[i] & (capacity - 1);
        while (hashes[at]) at = (at + 1) & (capacity - 1);
        hashes[at] = old_hashes[i];
        values[at] = old_values[i];
    }
}

/* Double an open-addressing index held in malloc'd arrays (*hashes, *values, *capacity slots),
   in place; -1: out of memory or too big, the index left as it was. table_grow and
   book_grow_table; running_grow_table does the same with its own page allocator. */
static int grow_index(uint64_t **hashes, uint32_t **values, size_t *capacity) {
    size_t doubled = *capacity * 2;
    if (doubled > SIZE_MAX / sizeof(uint64_t)) return -1;
    uint64_t *grown_hashes = calloc(doubled, sizeof *grown_hashes);
    uint32_t *grown_values = malloc(doubled * sizeof *grown_values);
    if (!grown_hashes || !grown_values) {
        free(grown_hashes);
        free(grown_values);
        return -1;
    }
    reinsert(*hashes, *values, *capacity, grown_hashes, grown_values, doubled);
    free(*hashes);
    free(*values);
    *hashes = grown_hashes;
    *values = grown_values;
    *capacity = doubled;
    return 0;
}

static int table_grow(table_t *t) { return grow_index(&t->hashes, &t->ids, &t->capacity); }

/* The id of one key, a new one (its first row `row`) if unseen; -1: out of memory. */
static int64_t table_id(table_t *t, const key_t_ *key, uint64_t hash, uint32_t row) {
    size_t at = hash & (t->capacity - 1);
    while (t->hashes[at]) {
        if (t->hashes[at] == hash) {
            const key_t_ *seen = &t->keys[t->ids[at]];
            if (seen->null == key->null && seen->number == key->number && seen->size == key->size &&
                (key->size == 0 || memcmp(seen->data, key->data, key->size) == 0))
                return t->ids[at];
        }
        at = (at + 1) & (t->capacity - 1);
    }
    if (t->count == t->keys_capacity) {
        size_t more = t->keys_capacity * 2;
        key_t_ *keys = realloc(t->keys, more * sizeof *keys);
        if (!keys) return -1;
        t->keys = keys;
        uint32_t *firsts = realloc(t->firsts, more * sizeof *firsts);
        if (!firsts) return -1;
        t->firsts = firsts;
        t->keys_capacity = more;
    }
    uint32_t id = (uint32_t)t->count++;
    t->keys[id] = *key;
    t->firsts[id] = row;
    t->hashes[at] = hash;
    t->ids[at] = id;
    if (t->count * 2 > t->capacity && table_grow(t) < 0) return -1;
    return id;
}

static int layout_of(const char *format, enum layout *out) {
    if (!format) return -1;
    if (!strcmp(format, "u") || !strcmp(format, "z")) *out = OFFSETS32;
    else if (!strcmp(format, "U") || !strcmp(format, "Z")) *out = OFFSETS64;
    else if (!strcmp(format, "vu") || !strcmp(format, "vz")) *out = VIEWS;
    else return -1;
    return 0;
}

/* The bytes of row `i` of one chunk (0 on success, -1 if the chunk's buffers do not hold them). */
static int row_bytes(const struct ArrowArray *a, enum layout layout, int64_t i, const uint8_t **data,
                     uint32_t *size) {
    int64_t at = a->offset + i;
    if (layout == OFFSETS32) {
        const int32_t *offsets = a->buffers[1];
        int32_t start = offsets[at], end = offsets[at + 1];
        if (start < 0 || end < start) return -1;
        *data = (const uint8_t *)a->buffers[2] + start;
        *size = (uint32_t)(end - start);
        return 0;
    }
    if (layout == OFFSETS64) {
        const int64_t *offsets = a->buffers[1];
        int64_t start = offsets[at], end = offsets[at + 1];
        if (start < 0 || end < start || end - start > UINT32_MAX) return -1;
        *data = (const uint8_t *)a->buffers[2] + start;
        *size = (uint32_t)(end - start);
        return 0;
    }
    const uint8_t *view = (const uint8_t *)a->buffers[1] + 16 * at;
    int32_t length, index, offset;
    memcpy(&length, view, 4);
    if (length < 0) return -1;
    if (length <= 12) {
        *data = view + 4;
        *size = (uint32_t)length;
        return 0;
    }
    memcpy(&index, view + 8, 4);
    memcpy(&offset, view + 12, 4);
    int64_t data_buffers = a->n_buffers - 3; /* validity, views, data..., variadic sizes */
    if (index < 0 || index >= data_buffers || offset < 0) return -1;
    const int64_t *sizes = a->buffers[a->n_buffers - 1];
    if (sizes && (int64_t)offset + length > sizes[index]) return -1;
    *data = (const uint8_t *)a->buffers[2 + index] + offset;
    *size = (uint32_t)length;
    return 0;
}

static int chunk_ok(const struct ArrowArray *a, enum layout layout) {
    if (a->length < 0 || a->offset < 0 || a->n_children != 0) return 0;
    if (layout == VIEWS) return a->n_buffers >= 3 && (a->length == 0 || a->buffers[1]);
    return a->n_buffers == 3 && (a->length == 0 || (a->buffers[1] && a->buffers[2]));
}

typedef struct {
    struct ArrowArray *items;
    size_t count, capacity;
} chunks_t;

static void chunks_release(chunks_t *c) {
    for (size_t i = 0; i < c->count; i++)
        if (c->items[i].release) c->items[i].release(&c->items[i]);
    free(c->items);
}

/* The stream's next chunk, kept in `chunks` (released with them) and checked to be laid out as
   `layout` says: 1 and *out, 0 at the stream's end, -1 with an exception naming `who`. */
static int chunks_next(chunks_t *chunks, struct ArrowArrayStream *stream, enum layout layout, const char *who,
                       struct ArrowArray **out) {
    if (chunks->count == chunks->capacity) {
        size_t more = chunks->capacity ? chunks->capacity * 2 : 4;
        struct ArrowArray *items = realloc(chunks->items, more * sizeof *items);
        if (!items) {
            PyErr_NoMemory();
            return -1;
        }
        chunks->items = items;
        chunks->capacity = more;
    }
    struct ArrowArray *a = &chunks->items[chunks->count];
    memset(a, 0, sizeof *a);
    if (stream->get_next(stream, a) != 0) {
        PyErr_Format(PyExc_ValueError, "%s: the stream failed", who);
        return -1;
    }
    if (!a->release) return 0; /* the end of the stream */
    chunks->count++;
    if (!chunk_ok(a, layout)) {
        PyErr_Format(PyExc_ValueError, "%s: a chunk is not laid out as its type says", who);
        return -1;
    }
    *out = a;
    return 1;
}

static PyObject *group_ids(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *capsule, *numbers_obj = Py_None;
    if (!PyArg_ParseTuple(args, "O|O", &capsule, &numbers_obj)) return NULL;
    struct ArrowArrayStream *stream = PyCapsule_GetPointer(capsule, "arrow_array_stream");
    if (!stream) return NULL;
    Py_buffer numbers = {0};
    int has_numbers = numbers_obj != Py_None;
    if (has_numbers && PyObject_GetBuffer(numbers_obj, &numbers, PyBUF_SIMPLE) < 0) return NULL;

    PyObject *result = NULL;
    chunks_t chunks = {0};
    table_t table;
    uint32_t *ids = NULL;
    size_t rows = 0, ids_capacity = 0;
    enum layout layout;
    struct ArrowSchema schema = {0};
    if (table_init(&table) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    if (stream->get_schema(stream, &schema) != 0) {
        PyErr_SetString(PyExc_ValueError, "group_ids: the stream gave no schema");
        goto done;
    }
    int known = layout_of(schema.format, &layout);
    if (schema.release) schema.release(&schema);
    if (known < 0) {
        PyErr_SetString(PyExc_TypeError, "group_ids: not a string or binary column");
        goto done;
    }
    for (;;) {
        struct ArrowArray *a;
        int got = chunks_next(&chunks, stream, layout, "group_ids", &a);
        if (got < 0) goto done;
        if (got == 0) break;
        if ((uint64_t)rows + (uint64_t)a->length >= UINT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "group_ids: more rows than uint32 numbers");
            goto done;
        }
        if (has_numbers && (size_t)numbers.len < (rows + (size_t)a->length) * 4) {
            PyErr_SetString(PyExc_ValueError, "group_ids: fewer numbers than rows");
            goto done;
        }
        if (rows + (size_t)a->length > ids_capacity) {
            size_t more = (rows + (size_t)a->length) * 2;
            uint32_t *grown = realloc(ids, more * sizeof *grown);
            if (!grown) {
                PyErr_NoMemory();
                goto done;
            }
            ids = grown;
            ids_capacity = more;
        }
        const uint8_t *validity = a->null_count != 0 ? a->buffers[0] : NULL;
        for (int64_t i = 0; i < a->length; i++) {
            key_t_ key = {0};
            int64_t bit = a->offset + i;
            if (has_numbers) memcpy(&key.number, (const uint8_t *)numbers.buf + 4 * (rows + (size_t)i), 4);
            uint64_t hash;
            if (validity && !((validity[bit >> 3] >> (bit & 7)) & 1)) {
                key.null = 1;
                hash = hash_bytes((const uint8_t *)"", 0, 0x51ED270B27A5F3C1ULL ^ key.number);
            } else {
                if (row_bytes(a, layout, i, &key.data, &key.size) < 0) {
                    PyErr_SetString(PyExc_ValueError, "group_ids: a row's bytes lie outside its buffers");
                    goto done;
                }
                hash = hash_bytes(key.data, key.size, 0x2545F4914F6CDD1DULL ^ ((uint64_t)key.number << 17));
            }
            int64_t id = table_id(&table, &key, hash, (uint32_t)(rows + (size_t)i));
            if (id < 0) {
                PyErr_NoMemory();
                goto done;
            }
            ids[rows + (size_t)i] = (uint32_t)id;
        }
        rows += (size_t)a->length;
    }
    if (has_numbers && (size_t)numbers.len != rows * 4) {
        PyErr_SetString(PyExc_ValueError, "group_ids: more numbers than rows");
        goto done;
    }
    PyObject *row_ids = PyBytes_FromStringAndSize((const char *)ids, (Py_ssize_t)(rows * 4));
    PyObject *firsts = row_ids ? PyBytes_FromStringAndSize((const char *)table.firsts, (Py_ssize_t)(table.count * 4)) : NULL;
    if (row_ids && firsts) result = PyTuple_Pack(2, row_ids, firsts);
    Py_XDECREF(row_ids);
    Py_XDECREF(firsts);
done:
    chunks_release(&chunks);
    table_free(&table);
    free(ids);
    if (has_numbers) PyBuffer_Release(&numbers);
    return result;
}


/* fold_rows: a batch's rows, already numbered by client and (unit, target) pair, added up per
   client and per (client, time bucket) in one pass (botguard.judge._ids.fold_rows is the door
   and says what each argument and result holds; botguard.judge.aggregate's polars queries are
   the pure twin). */

enum { F_ROBOTS = 1, F_ASSET = 2, F_ASKED = 4, F_REFUSED = 8, F_TRAP = 16 };
enum { R_VALID = 1, R_REFERER = 2, R_GOVERNED = 4 };

/* Per-client sums, in the order the door unpacks them. */
enum {
    C_REQUESTS, C_FIRST_SEEN, C_LAST_SEEN, C_ROBOTS_FETCHED, C_FIRST_ROBOTS, C_FIRST_OTHER, C_JUDGED,
    C_DISALLOWED, C_HONEYPOT, C_INVALID, C_ASSETS, C_PAGES, C_REFERERS, C_CLIENT_ERRORS, C_FAST_GAPS,
    C_GAP_FIRST, C_GAP_LAST, C_GOVERNED, C_FIELDS
};

/* The facts one row adds to its client's sums ``s`` (fold_rows and running_add both count them
   so); returns whether the row is a refused (robots.txt-disallowed) request. */
static inline int add_row_facts(int64_t *s, int64_t t, uint8_t f, uint8_t r, int16_t status) {
    int valid = r & R_VALID, robots = f & F_ROBOTS, asset = f & F_ASSET;
    int judged = valid && (f & F_ASKED), refused = judged && (f & F_REFUSED);
    if (s[C_REQUESTS]++ == 0) {
        s[C_FIRST_SEEN] = s[C_LAST_SEEN] = t;
    } else {
        if (t < s[C_FIRST_SEEN]) s[C_FIRST_SEEN] = t;
        if (t > s[C_LAST_SEEN]) s[C_LAST_SEEN] = t;
    }
    if (robots) {
        if (s[C_ROBOTS_FETCHED]++ == 0 || t < s[C_FIRST_ROBOTS]) s[C_FIRST_ROBOTS] = t;
    } else if (s[C_REQUESTS] - s[C_ROBOTS_FETCHED] == 1 || t < s[C_FIRST_OTHER]) {
        s[C_FIRST_OTHER] = t;
    }
    s[C_JUDGED] += judged;
    s[C_DISALLOWED] += refused;
    s[C_HONEYPOT] += refused && (f & F_TRAP);
    s[C_INVALID] += !valid;
    s[C_ASSETS] += asset != 0;
    s[C_PAGES] += valid && !robots && !asset;
    s[C_REFERERS] += (r & R_REFERER) != 0;
    s[C_CLIENT_ERRORS] += status >= 400 && status < 500;
    return refused;
}

typedef struct {
    uint64_t *keys; /* slot + 1; 0: empty */
    int64_t *requests, *bytes;
    size_t capacity, count;
} cells_t;

static int cells_init(cells_t *c, size_t capacity) {
    c->capacity = capacity;
    c->count = 0;
    c->keys = calloc(capacity, sizeof *c->keys);
    c->requests = calloc(capacity, sizeof *c->requests);
    c->bytes = calloc(capacity, sizeof *c->bytes);
    return c->keys && c->requests && c->bytes ? 0 : -1;
}

static void cells_free(cells_t *c) {
    free(c->keys);
    free(c->requests);
    free(c->bytes);
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDULL;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ULL;
    return x ^ (x >> 33);
}

/* a + b as the two's complement sum (polars' sums of Int64 wrap alike), never undefined. */
static inline int64_t add_wrapping(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }

static int cells_grow(cells_t *c);

static int cells_add(cells_t *c, uint64_t slot, int64_t bytes) {
    uint64_t key = slot + 1;
    size_t at = mix64(key) & (c->capacity - 1);
    while (c->keys[at] && c->keys[at] != key) at = (at + 1) & (c->capacity - 1);
    if (!c->keys[at]) {
        c->keys[at] = key;
        c->count++;
    }
    c->requests[at] += 1;
    c->bytes[at] = add_wrapping(c->bytes[at], bytes);
    return c->count * 2 > c->capacity ? cells_grow(c) : 0;
}

static int cells_grow(cells_t *c) {
    cells_t more;
    if (cells_init(&more, c->capacity * 2) < 0) {
        cells_free(&more);
        return -1;
    }
    for (size_t i = 0; i < c->capacity; i++) {
        if (!c->keys[i]) continue;
        size_t at = mix64(c->keys[i]) & (more.capacity - 1);
        while (more.keys[at]) at = (at + 1) & (more.capacity - 1);
        more.keys[at] = c->keys[i];
        more.requests[at] = c->requests[i];
        more.bytes[at] = c->bytes[i];
    }
    more.count = c->count;
    cells_free(c);
    *c = more;
    return 0;
}

static int buffer_of(PyObject *obj, Py_buffer *view, Py_ssize_t items, Py_ssize_t item_size, const char *name) {
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0) return -1;
    if (view->len != items * item_size) {
        PyErr_Format(PyExc_ValueError, "fold_rows: %s holds %zd bytes, not %zd", name, view->len, items * item_size);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *fold_rows(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *objects[8];
    Py_ssize_t rows, clients, pairs;
    long long width, first_bucket, buckets;
    if (!PyArg_ParseTuple(args, "nnnOOOOOOOOLLL", &rows, &clients, &pairs, &objects[0], &objects[1], &objects[2],
                          &objects[3], &objects[4], &objects[5], &objects[6], &objects[7], &width,
                          &first_bucket, &buckets))
        return NULL;
    if (rows < 0 || clients < 0 || pairs < 0 || width <= 0 || buckets <= 0 || clients > (Py_ssize_t)UINT32_MAX ||
        (uint64_t)buckets > UINT64_MAX / ((uint64_t)clients + 1)) {
        PyErr_SetString(PyExc_ValueError, "fold_rows: bad counts");
        return NULL;
    }
    /* client u32, pair u32, pair flags u8, row flags u8, time i64, status i16, bytes i64, min_gap f64 */
    static const char *names[] = {"client", "pair", "pair_flags", "row_flags", "time", "status", "bytes", "min_gap"};
    Py_ssize_t items[] = {rows, rows, pairs, rows, rows, rows, rows, rows};
    Py_ssize_t sizes[] = {4, 4, 1, 1, 8, 2, 8, 8};
    Py_buffer views[8];
    int held = 0;
    PyObject *result = NULL, *disallowed = NULL, *per_client = NULL, *gaps = NULL;
    int64_t *sums = NULL;
    double *limits = NULL;
    cells_t cells = {0};
    for (; held < 8; held++)
        if (buffer_of(objects[held], &views[held], items[held], sizes[held], names[held]) < 0) goto done;
    const uint32_t *client = views[0].buf, *pair = views[1].buf;
    const uint8_t *pair_flags = views[2].buf, *row_flags = views[3].buf;
    const int64_t *time = views[4].buf, *nbytes = views[6].buf;
    const int16_t *status = views[5].buf;
    const double *min_gap = views[7].buf;
    sums = calloc((size_t)clients * C_FIELDS + 1, sizeof *sums);
    limits = calloc((size_t)clients + 1, sizeof *limits);
    disallowed = PyBytes_FromStringAndSize(NULL, rows);
    if (!sums || !limits || !disallowed || cells_init(&cells, 1024) < 0) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto done;
    }
    uint8_t *bad = (uint8_t *)PyBytes_AS_STRING(disallowed);
    for (Py_ssize_t i = 0; i < rows; i++) {
        uint32_t c = client[i], p = pair[i];
        if (c >= (uint64_t)clients || p >= (uint64_t)pairs) {
            PyErr_SetString(PyExc_ValueError, "fold_rows: an id past its count");
            goto done;
        }
        int64_t *s = sums + (size_t)c * C_FIELDS, t = time[i];
        uint8_t r = row_flags[i];
        bad[i] = (uint8_t)add_row_facts(s, t, pair_flags[p], r, status[i]);
        if (r & R_GOVERNED) {
            if (s[C_GOVERNED]++ == 0) {
                limits[c] = min_gap[i];
                s[C_GAP_FIRST] = t;
            } else if ((double)(t - s[C_GAP_LAST]) / 1e6 < limits[c]) {
                s[C_FAST_GAPS]++;
            }
            s[C_GAP_LAST] = t;
        }
        if (t < 0) {
            PyErr_SetString(PyExc_ValueError, "fold_rows: a time before 1970");
            goto done;
        }
        int64_t slot = t / 1000000 / width - first_bucket; /* microseconds -> seconds -> bucket */
        if (slot < 0 || slot >= buckets) {
            PyErr_SetString(PyExc_ValueError, "fold_rows: a time outside the batch's span");
            goto done;
        }
        if (cells_add(&cells, (uint64_t)c * (uint64_t)buckets + (uint64_t)slot, nbytes[i]) < 0) {
            PyErr_NoMemory();
            goto done;
        }
    }
    per_client = PyBytes_FromStringAndSize((const char *)sums, (Py_ssize_t)((size_t)clients * C_FIELDS * 8));
    gaps = PyBytes_FromStringAndSize((const char *)limits, (Py_ssize_t)((size_t)clients * 8));
    PyObject *slots = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(cells.count * 8));
    PyObject *requests = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(cells.count * 8));
    PyObject *byte_sums = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(cells.count * 8));
    if (per_client && gaps && slots && requests && byte_sums) {
        uint64_t *out_slots = (uint64_t *)PyBytes_AS_STRING(slots);
        int64_t *out_requests = (int64_t *)PyBytes_AS_STRING(requests), *out_bytes = (int64_t *)PyBytes_AS_STRING(byte_sums);
        size_t n = 0;
        for (size_t i = 0; i < cells.capacity; i++) {
            if (!cells.keys[i]) continue;
            out_slots[n] = cells.keys[i] - 1;
            out_requests[n] = cells.requests[i];
            out_bytes[n++] = cells.bytes[i];
        }
        result = PyTuple_Pack(6, per_client, gaps, disallowed, slots, requests, byte_sums);
    }
    Py_XDECREF(slots);
    Py_XDECREF(requests);
    Py_XDECREF(byte_sums);
done:
    for (int i = 0; i < held; i++) PyBuffer_Release(&views[i]);
    Py_XDECREF(per_client);
    Py_XDECREF(gaps);
    Py_XDECREF(disallowed);
    free(sums);
    free(limits);
    cells_free(&cells);
    return result;
}


/* The running fold: one scan's clients, kept across batches (botguard.judge._running is the
   door). Instead of a partial per batch that is cut into shards and merged, each batch's rows
   are added to the facts of the scan's clients, found by (address, agent number) in a table
   that owns a copy of each address; requests and bytes per (client, time bucket) are kept at the
   scan's bucket width, floored again when a longer span widens it. running_emit hands the
   whole back once. Every fact is what merging the batches' partials in log order gives
   (botguard/judge/partial.py says why each merges exactly); Crawl-delay intervals inside a batch
   compare with that batch's first min_gap of the client and intervals across batches with the
   client's first, as the merge does. */

#define RUNNING_CAPSULE "botguard.judge._fold.running"

/* The running fold's arrays live in their own memory maps, zeroed, given back whole when freed
   or grown: glibc would keep a freed array of a few tens of MiB in its heap and raise its
   threshold for mapping later ones, and the scan's model step, after the fold, would find
   its peak that much higher (the 5M-line bench log: +11 MiB over the per-batch partials). */
#include <sys/mman.h>

typedef struct {
    size_t size; /* bytes mapped, this header included */
    size_t pad;
} pages_t;

/* `p` (from pages_resize, or NULL) resized to hold `size` bytes, zero past what it held;
   NULL (and `p` untouched) if that cannot be mapped. */
static void *pages_resize(void *p, size_t size) {
    if (size > SIZE_MAX - sizeof(pages_t) - 4096) return NULL;
    size_t total = sizeof(pages_t) + size;
    void *mapped = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) return NULL;
    pages_t *head = mapped;
    head->size = total;
    if (p) {
        pages_t *old = (pages_t *)p - 1;
        size_t keep = old->size < total ? old->size : total;
        memcpy(head + 1, p, keep - sizeof(pages_t));
        munmap(old, old->size);
    }
    return head + 1;
}

static void pages_free(void *p) {
    if (p) {
        pages_t *head = (pages_t *)p - 1;
        munmap(head, head->size);
    }
}

typedef struct {
    uint32_t client;
    int64_t bucket; /* Unix seconds of the bucket's start (or a rule's or a path's number) */
} tkey_t;

/* A client's earliest disallowed requests (EVIDENCE kept, earliest first, ties in log order). */
#define EVIDENCE 3
typedef struct {
    int64_t time[EVIDENCE];
    uint64_t seq[EVIDENCE]; /* batch << 32 | row */
    uint32_t count;
} evidence_t;

/* One cell, its key and its counts together (one cache line touched per lookup). */
typedef struct {
    int64_t bucket, requests, bytes;
    uint32_t client, used;
} tcell_t;

typedef struct {
    tcell_t *items;
    size_t capacity, count; /* at most 3/4 full */
} tcells_t;

typedef struct {
    /* clients, in order of first appearance */
    size_t count, capacity;
    uint64_t *ip_offsets; /* count + 1 */
    uint8_t *ip_bytes;
    size_t ip_size, ip_capacity;
    uint8_t *ip_null;
    uint32_t *agents;
    int64_t *sums;        /* count x C_FIELDS */
    double *limits;       /* min_gap of the client's first governed request */
    double *batch_limits; /* ... of its first governed request in the batch of its last one */
    uint64_t *gap_batch;  /* the batch its last governed request was in */
    /* (address, agent) -> client */
    uint64_t *hashes;
    uint32_t *slots;
    size_t table_capacity;
    tcells_t cells;
    tcells_t rules;        /* (client, rule number) -> disallowed requests */
    uint32_t *evidence_of; /* per client: 1 + its entry in `evidence`, 0: none yet */
    evidence_t *evidence;
    size_t evidence_count, evidence_capacity;
    int64_t width; /* 0: no batch yet */
    uint64_t batches;
} running_t;

static int tcells_init(tcells_t *c, size_t capacity) {
    memset(c, 0, sizeof *c);
    c->capacity = capacity;
    c->items = capacity <= SIZE_MAX / sizeof *c->items ? pages_resize(NULL, capacity * sizeof *c->items) : NULL;
    return c->items ? 0 : -1;
}

static void tcells_free(tcells_t *c) {
    pages_free(c->items);
    memset(c, 0, sizeof *c);
}

static inline size_t tcell_at(const tcells_t *c, tkey_t key) {
    size_t at = mix64(((uint64_t)key.client << 32) ^ mix64((uint64_t)key.bucket)) & (c->capacity - 1);
    while (c->items[at].used && (c->items[at].client != key.client || c->items[at].bucket != key.bucket))
        at = (at + 1) & (c->capacity - 1);
    return at;
}

/* Adds to one cell (a new one if unseen); -1: out of memory. */
static int tcells_add(tcells_t *c, tkey_t key, int64_t requests, int64_t bytes);

static int tcells_rebuild(tcells_t *c, size_t capacity, int64_t width) {
    tcells_t more;
    if (tcells_init(&more, capacity) < 0) {
        tcells_free(&more);
        return -1;
    }
    for (size_t i = 0; i < c->capacity; i++) {
        const tcell_t *cell = &c->items[i];
        if (!cell->used) continue;
        tkey_t key = {cell->client, width ? cell->bucket / width * width : cell->bucket}; /* buckets are >= 0 */
        if (tcells_add(&more, key, cell->requests, cell->bytes) < 0) {
            tcells_free(&more);
            return -1;
        }
    }
    tcells_free(c);
    *c = more;
    return 0;
}

static int tcells_add(tcells_t *c, tkey_t key, int64_t requests, int64_t bytes) {
    tcell_t *cell = &c->items[tcell_at(c, key)];
    if (!cell->used) {
        cell->used = 1;
        cell->client = key.client;
        cell->bucket = key.bucket;
        c->count++;
    }
    cell->requests = add_wrapping(cell->requests, requests);
    cell->bytes = add_wrapping(cell->bytes, bytes);
    if (c->count * 4 > c->capacity * 3) {
        if (c->capacity > SIZE_MAX / 4 / sizeof *c->items) return -1;
        return tcells_rebuild(c, c->capacity * 2, 0);
    }
    return 0;
}

static void running_free(running_t *r) {
    if (!r) return;
    pages_free(r->ip_offsets);
    pages_free(r->ip_bytes);
    pages_free(r->ip_null);
    pages_free(r->agents);
    pages_free(r->sums);
    pages_free(r->limits);
    pages_free(r->batch_limits);
    pages_free(r->gap_batch);
    pages_free(r->hashes);
    pages_free(r->slots);
    pages_free(r->evidence_of);
    pages_free(r->evidence);
    tcells_free(&r->cells);
    tcells_free(&r->rules);
    free(r);
}

static void running_destroy(PyObject *capsule) {
    running_free(PyCapsule_GetPointer(capsule, RUNNING_CAPSULE));
}

static PyObject *running_new(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    running_t *r = calloc(1, sizeof *r);
    if (!r) return PyErr_NoMemory();
    r->table_capacity = 1024;
    r->hashes = pages_resize(NULL, r->table_capacity * sizeof *r->hashes);
    r->slots = pages_resize(NULL, r->table_capacity * sizeof *r->slots);
    r->ip_offsets = pages_resize(NULL, sizeof *r->ip_offsets);
    if (!r->hashes || !r->slots || !r->ip_offsets || tcells_init(&r->cells, 1024) < 0 ||
        tcells_init(&r->rules, 1024) < 0) {
        running_free(r);
        return PyErr_NoMemory();
    }
    PyObject *capsule = PyCapsule_New(r, RUNNING_CAPSULE, running_destroy);
    if (!capsule) running_free(r);
    return capsule;
}

/* Room for one more client in every per-client array; -1: out of memory or too many. */
static int running_reserve(running_t *r) {
    if (r->count < r->capacity) return 0;
    size_t more = r->capacity ? r->capacity * 2 : 1024;
    if (more > UINT32_MAX || more > SIZE_MAX / (C_FIELDS * sizeof(int64_t))) return -1;
#define GROW(field, n)                                                  \
    do {                                                                \
        void *grown = pages_resize(r->field, (n) * sizeof *r->field);   \
        if (!grown) return -1;                                          \
        r->field = grown;                                               \
    } while (0)
    GROW(ip_offsets, more + 1);
    GROW(ip_null, more);
    GROW(agents, more);
    GROW(sums, more * C_FIELDS);
    GROW(limits, more);
    GROW(batch_limits, more);
    GROW(gap_batch, more);
    GROW(evidence_of, more);
#undef GROW
    r->capacity = more;
    return 0;
}

static int running_grow_table(running_t *r) {
    size_t capacity = r->table_capacity * 2;
    if (capacity > SIZE_MAX / sizeof(uint64_t)) return -1;
    uint64_t *hashes = pages_resize(NULL, capacity * sizeof *hashes);
    uint32_t *slots = pages_resize(NULL, capacity * sizeof *slots);
    if (!hashes || !slots) {
        pages_free(hashes);
        pages_free(slots);
        return -1;
    }
    reinsert(r->hashes, r->slots, r->table_capacity, hashes, slots, capacity);
    pages_free(r->hashes);
    pages_free(r->slots);
    r->hashes = hashes;
    r->slots = slots;
    r->table_capacity = capacity;
    return 0;
}

/* The scan's number of the client (address `data`/`size` or null, agent number `agent`), a new
   client (its facts zero) if unseen; -1: out of memory or too many clients. */
static int64_t running_client(running_t *r, const uint8_t *data, uint32_t size, int null, uint32_t agent) {
    uint64_t hash = null ? hash_bytes((const uint8_t *)"", 0, 0x51ED270B27A5F3C1ULL ^ agent)
                         : hash_bytes(data, size, 0x2545F4914F6CDD1DULL ^ ((uint64_t)agent << 17));
    size_t at = hash & (r->table_capacity - 1);
    while (r->hashes[at]) {
        if (r->hashes[at] == hash) {
            uint32_t c = r->slots[at];
            uint64_t start = r->ip_offsets[c], end = r->ip_offsets[c + 1];
            if (r->agents[c] == agent && r->ip_null[c] == (uint8_t)null && end - start == size &&
                (size == 0 || memcmp(r->ip_bytes + start, data, size) == 0))
                return c;
        }
        at = (at + 1) & (r->table_capacity - 1);
    }
    if (running_reserve(r) < 0) return -1;
    if (size > SIZE_MAX / 4 - 1024 - r->ip_size) return -1; /* (the doubling below cannot wrap) */
    if (r->ip_size + size > r->ip_capacity) {
        size_t more = (r->ip_size + size) * 2 + 1024;
        uint8_t *grown = pages_resize(r->ip_bytes, more);
        if (!grown) return -1;
        r->ip_bytes = grown;
        r->ip_capacity = more;
    }
    uint32_t c = (uint32_t)r->count++;
    if (size) memcpy(r->ip_bytes + r->ip_size, data, size);
    r->ip_size += size;
    r->ip_offsets[c + 1] = r->ip_size;
    r->ip_null[c] = (uint8_t)null;
    r->agents[c] = agent;
    memset(r->sums + (size_t)c * C_FIELDS, 0, C_FIELDS * sizeof *r->sums);
    r->limits[c] = r->batch_limits[c] = 0.0;
    r->gap_batch[c] = 0;
    r->evidence_of[c] = 0;
    r->hashes[at] = hash;
    r->slots[at] = c;
    if (r->count * 2 > r->table_capacity && running_grow_table(r) < 0) return -1;
    return c;
}

/* The bytes of row `i` of chunk `a` (null: *null set); -1 if they lie outside its buffers. */
static int address_of(const struct ArrowArray *a, enum layout layout, int64_t i, const uint8_t **data,
                      uint32_t *size, int *null) {
    const uint8_t *validity = a->null_count != 0 ? a->buffers[0] : NULL;
    int64_t bit = a->offset + i;
    *data = NULL;
    *size = 0;
    *null = validity && !((validity[bit >> 3] >> (bit & 7)) & 1);
    return *null ? 0 : row_bytes(a, layout, i, data, size);
}

/* The scan's number of each of a batch's clients (their addresses: an Arrow stream of `count`
   strings; their agent numbers: `agents`), into `out`; -1 with an exception set. The whole
   stream is read and checked before a client is added: a refused batch adds none. */
static int running_map(running_t *r, struct ArrowArrayStream *stream, const uint32_t *agents, size_t count,
                       uint32_t *out) {
    struct ArrowSchema schema = {0};
    enum layout layout;
    if (stream->get_schema(stream, &schema) != 0) {
        PyErr_SetString(PyExc_ValueError, "running_add: the address stream gave no schema");
        return -1;
    }
    int known = layout_of(schema.format, &layout);
    if (schema.release) schema.release(&schema);
    if (known < 0) {
        PyErr_SetString(PyExc_TypeError, "running_add: the addresses are not a string column");
        return -1;
    }
    chunks_t chunks = {0};
    int status = -1;
    size_t seen = 0, done = 0;
    for (;;) {
        struct ArrowArray *a;
        int got = chunks_next(&chunks, stream, layout, "running_add", &a);
        if (got < 0) goto done;
        if (got == 0) break;
        if ((uint64_t)a->length > count - seen) {
            PyErr_SetString(PyExc_ValueError, "running_add: more addresses than clients");
            goto done;
        }
        for (int64_t i = 0; i < a->length; i++) {
            const uint8_t *data;
            uint32_t size;
            int null;
            if (address_of(a, layout, i, &data, &size, &null) < 0) {
                PyErr_SetString(PyExc_ValueError, "running_add: an address lies outside its buffers");
                goto done;
            }
        }
        seen += (size_t)a->length;
    }
    if (seen != count) {
        PyErr_SetString(PyExc_ValueError, "running_add: fewer addresses than clients");
        goto done;
    }
    for (size_t k = 0; k < chunks.count; k++) {
        const struct ArrowArray *a = &chunks.items[k];
        for (int64_t i = 0; i < a->length; i++) {
            const uint8_t *data;
            uint32_t size;
            int null;
            address_of(a, layout, i, &data, &size, &null); /* (checked above) */
            int64_t c = running_client(r, data, size, null, agents[done]);
            if (c < 0) {
                PyErr_NoMemory();
                goto done;
            }
            out[done++] = (uint32_t)c;
        }
    }
    status = 0;
done:
    chunks_release(&chunks);
    return status;
}

/* Offers a disallowed request (time `t`, log position `seq`, later than every one offered
   before) to client `c`'s earliest; -1: out of memory. */
static int evidence_offer(running_t *r, uint32_t c, int64_t t, uint64_t seq) {
    if (!r->evidence_of[c]) {
        if (r->evidence_count == r->evidence_capacity) {
            size_t more = r->evidence_capacity ? r->evidence_capacity * 2 : 256;
            if (more >= UINT32_MAX || more > SIZE_MAX / sizeof *r->evidence) return -1;
            evidence_t *grown = pages_resize(r->evidence, more * sizeof *grown);
            if (!grown) return -1;
            r->evidence = grown;
            r->evidence_capacity = more;
        }
        memset(&r->evidence[r->evidence_count], 0, sizeof *r->evidence);
        r->evidence_of[c] = (uint32_t)++r->evidence_count;
    }
    evidence_t *e = &r->evidence[r->evidence_of[c] - 1];
    uint32_t at = 0;
    while (at < e->count && e->time[at] <= t) at++; /* ties: the earlier request first */
    if (at >= EVIDENCE) return 0;
    uint32_t last = e->count < EVIDENCE ? e->count : EVIDENCE - 1;
    for (uint32_t k = last; k > at; k--) {
        e->time[k] = e->time[k - 1];
        e->seq[k] = e->seq[k - 1];
    }
    e->time[at] = t;
    e->seq[at] = seq;
    if (e->count < EVIDENCE) e->count++;
    return 0;
}

static int compare_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* What running_add returns about batch `batch`: the rows of it among their client's earliest
   disallowed requests (each batch client's entries looked at once), and its path counts. */
static PyObject *running_batch_result(running_t *r, uint64_t batch, const uint32_t *scan_ids, size_t clients,
                                      const tcells_t *path_cells) {
    size_t found = 0;
    uint32_t *rows = malloc((clients * EVIDENCE + 1) * sizeof *rows);
    if (!rows) return PyErr_NoMemory();
    for (size_t k = 0; k < clients; k++) {
        uint32_t at = r->evidence_of[scan_ids[k]];
        if (!at) continue;
        const evidence_t *e = &r->evidence[at - 1];
        for (uint32_t j = 0; j < e->count; j++)
            if (e->seq[j] >> 32 == batch) rows[found++] = (uint32_t)(e->seq[j] & 0xFFFFFFFFu);
    }
    qsort(rows, found, sizeof *rows, compare_u32);
    size_t n = path_cells->count;
    PyObject *evidence = PyBytes_FromStringAndSize((const char *)rows, (Py_ssize_t)(found * 4));
    free(rows);
    PyObject *owners = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 4));
    PyObject *numbers = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 4));
    PyObject *counts = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 8));
    PyObject *result = NULL;
    if (evidence && owners && numbers && counts) {
        uint32_t *out_owners = (uint32_t *)PyBytes_AS_STRING(owners), *out_numbers = (uint32_t *)PyBytes_AS_STRING(numbers);
        int64_t *out_counts = (int64_t *)PyBytes_AS_STRING(counts);
        size_t k = 0;
        for (size_t i = 0; i < path_cells->capacity && k < n; i++) {
            if (!path_cells->items[i].used) continue;
            out_owners[k] = path_cells->items[i].client;
            out_numbers[k] = (uint32_t)path_cells->items[i].bucket;
            out_counts[k++] = path_cells->items[i].requests;
        }
        result = PyTuple_Pack(4, evidence, owners, numbers, counts);
    }
    Py_XDECREF(evidence);
    Py_XDECREF(owners);
    Py_XDECREF(numbers);
    Py_XDECREF(counts);
    return result;
}

/* running_add(state, rows, clients, pairs, client, pair, pair_flags, row_flags, time, status,
   bytes, min_gap, width, addresses, agents, pair_rules, pair_paths, paths) -> (evidence rows,
   path clients, path numbers, path counts): one batch (its rows numbered by batch client and
   pair as fold_rows takes them) added to the running fold; `addresses` (an Arrow stream
   capsule) and `agents` (uint32) name each batch client. `width`: the bucket width of the
   scan's span so far, this batch included (never narrower than the last). `pair_rules`: the
   scan's number of each pair's rule (uint32; any value where the pair is not refused);
   `pair_paths`: each pair's path, numbered within the batch (< `paths`).
   Disallowed requests are counted per (client, rule) in the running fold; per (batch client,
   path) for this batch alone (returned: uint32, uint32, int64 arrays); and the rows of this
   batch that are among their client's EVIDENCE earliest disallowed requests of the scan so
   far are returned (uint32, in row order): only those can be in the scan's evidence. */
static PyObject *running_add(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *capsule, *objects[11], *addresses;
    Py_ssize_t rows, clients, pairs, paths;
    long long width;
    if (!PyArg_ParseTuple(args, "OnnnOOOOOOOOLOOOOn", &capsule, &rows, &clients, &pairs, &objects[0], &objects[1],
                          &objects[2], &objects[3], &objects[4], &objects[5], &objects[6], &objects[7], &width,
                          &addresses, &objects[8], &objects[9], &objects[10], &paths))
        return NULL;
    running_t *r = PyCapsule_GetPointer(capsule, RUNNING_CAPSULE);
    if (!r) return NULL;
    struct ArrowArrayStream *stream = PyCapsule_GetPointer(addresses, "arrow_array_stream");
    if (!stream) return NULL;
    if (rows < 0 || clients < 0 || pairs < 0 || paths < 0 || rows > (Py_ssize_t)UINT32_MAX ||
        clients > (Py_ssize_t)UINT32_MAX || width <= 0 || (r->width && (width < r->width || width % r->width))) {
        PyErr_SetString(PyExc_ValueError, "running_add: bad counts or width");
        return NULL;
    }
    static const char *names[] = {"client", "pair", "pair_flags", "row_flags", "time", "status",
                                  "bytes", "min_gap", "agents", "pair_rules", "pair_paths"};
    Py_ssize_t items[] = {rows, rows, pairs, rows, rows, rows, rows, rows, clients, pairs, pairs};
    Py_ssize_t sizes[] = {4, 4, 1, 1, 8, 2, 8, 8, 4, 4, 4};
    Py_buffer views[11];
    int held = 0;
    PyObject *result = NULL;
    uint32_t *scan_ids = NULL;
    tcells_t path_cells = {0};
    cells_t batch_cells = {0}; /* (batch client, bucket's place in the batch's span), folded in once */
    int64_t low = INT64_MAX, high = 0;
    for (; held < 11; held++)
        if (buffer_of(objects[held], &views[held], items[held], sizes[held], names[held]) < 0) goto done;
    const uint32_t *client = views[0].buf, *pair = views[1].buf;
    const uint8_t *pair_flags = views[2].buf, *row_flags = views[3].buf;
    const int64_t *time = views[4].buf, *nbytes = views[6].buf;
    const int16_t *status = views[5].buf;
    const double *min_gap = views[7].buf;
    const uint32_t *pair_rules = views[9].buf, *pair_paths = views[10].buf;
    for (Py_ssize_t p = 0; p < pairs; p++) {
        if (pair_paths[p] >= (uint64_t)paths) {
            PyErr_SetString(PyExc_ValueError, "running_add: a path number past its count");
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < rows; i++) { /* checked before anything is added */
        if (client[i] >= (uint64_t)clients || pair[i] >= (uint64_t)pairs) {
            PyErr_SetString(PyExc_ValueError, "running_add: an id past its count");
            goto done;
        }
        if (time[i] < 0) {
            PyErr_SetString(PyExc_ValueError, "running_add: a time before 1970");
            goto done;
        }
        if (time[i] < low) low = time[i];
        if (time[i] > high) high = time[i];
    }
    int64_t first_bucket = rows ? low / 1000000 / width : 0;
    uint64_t buckets = rows ? (uint64_t)(high / 1000000 / width - first_bucket) + 1 : 1;
    if (buckets > UINT64_MAX / ((uint64_t)clients + 1)) {
        PyErr_SetString(PyExc_ValueError, "running_add: too many buckets");
        goto done;
    }
    scan_ids = malloc(((size_t)clients + 1) * sizeof *scan_ids);
    if (!scan_ids || tcells_init(&path_cells, 256) < 0 || cells_init(&batch_cells, 1024) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    if (running_map(r, stream, views[8].buf, (size_t)clients, scan_ids) < 0) goto done;
    if (r->width && width != r->width && tcells_rebuild(&r->cells, r->cells.capacity, width) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    r->width = width;
    uint64_t batch = ++r->batches;
    for (Py_ssize_t i = 0; i < rows; i++) {
        uint32_t c = scan_ids[client[i]], p = pair[i];
        int64_t *s = r->sums + (size_t)c * C_FIELDS, t = time[i];
        uint8_t rf = row_flags[i];
        if (add_row_facts(s, t, pair_flags[p], rf, status[i])) {
            tkey_t rule = {c, pair_rules[p]}, path = {client[i], pair_paths[p]};
            if (tcells_add(&r->rules, rule, 1, 0) < 0 || tcells_add(&path_cells, path, 1, 0) < 0 ||
                evidence_offer(r, c, t, batch << 32 | (uint64_t)i) < 0) {
                PyErr_NoMemory();
                goto done;
            }
        }
        if (rf & R_GOVERNED) {
            if (s[C_GOVERNED]++ == 0) {
                r->limits[c] = r->batch_limits[c] = min_gap[i];
                s[C_GAP_FIRST] = t;
            } else if (r->gap_batch[c] != batch) { /* the interval across a cut: the first limit */
                if ((double)(t - s[C_GAP_LAST]) / 1e6 < r->limits[c]) s[C_FAST_GAPS]++;
                r->batch_limits[c] = min_gap[i];
            } else if ((double)(t - s[C_GAP_LAST]) / 1e6 < r->batch_limits[c]) {
                s[C_FAST_GAPS]++;
            }
            r->gap_batch[c] = batch;
            s[C_GAP_LAST] = t;
        }
        uint64_t place = (uint64_t)(t / 1000000 / width - first_bucket);
        if (cells_add(&batch_cells, (uint64_t)client[i] * buckets + place, nbytes[i]) < 0) {
            PyErr_NoMemory();
            goto done;
        }
    }
    for (size_t k = 0; k < batch_cells.capacity; k++) {
        if (!batch_cells.keys[k]) continue;
        uint64_t slot = batch_cells.keys[k] - 1;
        tkey_t key = {scan_ids[slot / buckets], ((int64_t)(slot % buckets) + first_bucket) * width};
        if (tcells_add(&r->cells, key, batch_cells.requests[k], batch_cells.bytes[k]) < 0) {
            PyErr_NoMemory();
            goto done;
        }
    }
    result = running_batch_result(r, batch, scan_ids, (size_t)clients, &path_cells);
done:
    for (int i = 0; i < held; i++) PyBuffer_Release(&views[i]);
    free(scan_ids);
    tcells_free(&path_cells);
    cells_free(&batch_cells);
    return result;
}

/* running_emit(state) -> (addresses, agents, sums, limits, cell_clients, buckets, requests,
   bytes, rule_clients, rules, rule_counts): the scan's clients in order of first appearance (a
   list of str or None; then uint32 agent numbers, C_FIELDS int64 sums each, float64 first
   min_gap each), its (client, bucket) cells (uint32, int64 x 3) and its (client, rule number)
   counts (uint32, uint32, int64), all as native bytes. */
/* (clients, rule numbers, counts) of the running fold's rule counts, as native bytes. */
static PyObject *running_rule_counts(const running_t *r) {
    size_t n = r->rules.count;
    PyObject *owners = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 4));
    PyObject *numbers = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 4));
    PyObject *counts = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 8));
    PyObject *result = NULL;
    if (owners && numbers && counts) {
        uint32_t *out_owners = (uint32_t *)PyBytes_AS_STRING(owners), *out_numbers = (uint32_t *)PyBytes_AS_STRING(numbers);
        int64_t *out_counts = (int64_t *)PyBytes_AS_STRING(counts);
        size_t k = 0;
        for (size_t i = 0; i < r->rules.capacity && k < n; i++) {
            if (!r->rules.items[i].used) continue;
            out_owners[k] = r->rules.items[i].client;
            out_numbers[k] = (uint32_t)r->rules.items[i].bucket;
            out_counts[k++] = r->rules.items[i].requests;
        }
        result = PyTuple_Pack(3, owners, numbers, counts);
    }
    Py_XDECREF(owners);
    Py_XDECREF(numbers);
    Py_XDECREF(counts);
    return result;
}

static PyObject *running_emit(PyObject *self, PyObject *capsule) {
    (void)self;
    running_t *r = PyCapsule_GetPointer(capsule, RUNNING_CAPSULE);
    if (!r) return NULL;
    PyObject *addresses = PyList_New((Py_ssize_t)r->count);
    if (!addresses) return NULL;
    for (size_t c = 0; c < r->count; c++) {
        PyObject *text;
        if (r->ip_null[c]) {
            text = Py_NewRef(Py_None);
        } else {
            uint64_t start = r->ip_offsets[c];
            text = PyUnicode_DecodeUTF8((const char *)r->ip_bytes + start,
                                        (Py_ssize_t)(r->ip_offsets[c + 1] - start), "strict");
            if (!text) {
                Py_DECREF(addresses);
                return NULL;
            }
        }
        PyList_SET_ITEM(addresses, (Py_ssize_t)c, text);
    }
    size_t n = r->count, cells = r->cells.count;
    PyObject *agents = PyBytes_FromStringAndSize((const char *)r->agents, (Py_ssize_t)(n * 4));
    PyObject *sums = PyBytes_FromStringAndSize((const char *)r->sums, (Py_ssize_t)(n * C_FIELDS * 8));
    PyObject *limits = PyBytes_FromStringAndSize((const char *)r->limits, (Py_ssize_t)(n * 8));
    PyObject *owners = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(cells * 4));
    PyObject *buckets = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(cells * 8));
    PyObject *requests = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(cells * 8));
    PyObject *byte_sums = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(cells * 8));
    PyObject *result = NULL;
    if (agents && sums && limits && owners && buckets && requests && byte_sums) {
        uint32_t *out_owners = (uint32_t *)PyBytes_AS_STRING(owners);
        int64_t *out_buckets = (int64_t *)PyBytes_AS_STRING(buckets);
        int64_t *out_requests = (int64_t *)PyBytes_AS_STRING(requests);
        int64_t *out_bytes = (int64_t *)PyBytes_AS_STRING(byte_sums);
        size_t k = 0;
        for (size_t i = 0; i < r->cells.capacity && k < cells; i++) {
            if (!r->cells.items[i].used) continue;
            out_owners[k] = r->cells.items[i].client;
            out_buckets[k] = r->cells.items[i].bucket;
            out_requests[k] = r->cells.items[i].requests;
            out_bytes[k++] = r->cells.items[i].bytes;
        }
        PyObject *rules = running_rule_counts(r);
        if (rules) {
            result = PyTuple_Pack(11, addresses, agents, sums, limits, owners, buckets, requests, byte_sums,
                                  PyTuple_GET_ITEM(rules, 0), PyTuple_GET_ITEM(rules, 1), PyTuple_GET_ITEM(rules, 2));
            Py_DECREF(rules);
        }
    }
    Py_DECREF(addresses);
    Py_XDECREF(agents);
    Py_XDECREF(sums);
    Py_XDECREF(limits);
    Py_XDECREF(owners);
    Py_XDECREF(buckets);
    Py_XDECREF(requests);
    Py_XDECREF(byte_sums);
    return result;
}

/* The pair book: a scan's (robots.txt unit, target) pairs numbered once, kept across batches
   (botguard.judge._pairs is the door; its PairBook's pure twin is the oracle). A batch's pairs
   were numbered by group_ids, given their facts by polars queries over its distinct pairs and
   joined to the verdicts kept from earlier batches, every batch; with the book, each row is
   looked up here, and only pairs never seen before go to polars (their facts and verdicts,
   judged once), while the running fold reads the facts of every pair by its book number.

   The book owns a copy of each target. It holds at most `bound` pairs and `bytes_bound` bytes
   of targets before a batch: past either, it starts over at the start of the next book_find
   (which says so), so a log whose every target is new, or long, keeps it bounded (the batch's
   own pairs come on top: they are in memory with the batch anyway). */

#define BOOK_CAPSULE "botguard.judge._fold.book"

typedef struct {
    size_t count, capacity, bound, bytes_bound;
    uint64_t *offsets; /* count + 1: where each pair's target starts in `bytes` */
    uint8_t *bytes;
    size_t size, bytes_capacity;
    int32_t *units;
    uint8_t *null; /* the target is null */
    uint64_t *hashes; /* 0: empty slot */
    uint32_t *slots;
    size_t table_capacity;
} book_t;

static void book_free(book_t *b) {
    if (!b) return;
    free(b->offsets);
    free(b->bytes);
    free(b->units);
    free(b->null);
    free(b->hashes);
    free(b->slots);
    free(b);
}

static void book_destroy(PyObject *capsule) { book_free(PyCapsule_GetPointer(capsule, BOOK_CAPSULE)); }

/* book_new(bound, bytes_bound) -> an empty pair book (see above). */
static PyObject *book_new(PyObject *self, PyObject *args) {
    (void)self;
    Py_ssize_t bound, bytes_bound;
    if (!PyArg_ParseTuple(args, "nn", &bound, &bytes_bound)) return NULL;
    if (bound <= 0 || bytes_bound <= 0 || (uint64_t)bound >= UINT32_MAX / 2) {
        PyErr_SetString(PyExc_ValueError, "book_new: bounds must be positive (and fit uint32)");
        return NULL;
    }
    book_t *b = calloc(1, sizeof *b);
    if (!b) return PyErr_NoMemory();
    b->bound = (size_t)bound;
    b->bytes_bound = (size_t)bytes_bound;
    b->capacity = 256;
    b->table_capacity = 1024;
    b->offsets = calloc(b->capacity + 1, sizeof *b->offsets);
    b->units = malloc(b->capacity * sizeof *b->units);
    b->null = malloc(b->capacity * sizeof *b->null);
    b->hashes = calloc(b->table_capacity, sizeof *b->hashes);
    b->slots = malloc(b->table_capacity * sizeof *b->slots);
    if (!b->offsets || !b->units || !b->null || !b->hashes || !b->slots) {
        book_free(b);
        return PyErr_NoMemory();
    }
    PyObject *capsule = PyCapsule_New(b, BOOK_CAPSULE, book_destroy);
    if (!capsule) book_free(b);
    return capsule;
}

static void book_clear(book_t *b) {
    memset(b->hashes, 0, b->table_capacity * sizeof *b->hashes);
    b->count = 0;
    b->size = 0;
}

/* Room for one more pair (and `size` more bytes of target); -1: out of memory or too many. */
static int book_reserve(book_t *b, uint32_t size) {
    if (b->count == b->capacity) {
        size_t more = b->capacity * 2;
        if (more >= UINT32_MAX) return -1;
        uint64_t *offsets = realloc(b->offsets, (more + 1) * sizeof *offsets);
        if (!offsets) return -1;
        b->offsets = offsets;
        int32_t *units = realloc(b->units, more * sizeof *units);
        if (!units) return -1;
        b->units = units;
        uint8_t *null = realloc(b->null, more * sizeof *null);
        if (!null) return -1;
        b->null = null;
        b->capacity = more;
    }
    if (size > SIZE_MAX / 4 - 1024 - b->size) return -1; /* (the doubling below cannot wrap) */
    if (b->size + size > b->bytes_capacity) {
        size_t more = (b->size + size) * 2 + 1024;
        uint8_t *grown = realloc(b->bytes, more);
        if (!grown) return -1;
        b->bytes = grown;
        b->bytes_capacity = more;
    }
    return 0;
}

static int book_grow_table(book_t *b) { return grow_index(&b->hashes, &b->slots, &b->table_capacity); }

/* The book number of (unit, target `data`/`size`, or null), a new one if unseen (*fresh set);
   -1: out of memory or too many pairs. */
static int64_t book_pair(book_t *b, int32_t unit, const uint8_t *data, uint32_t size, int null, int *fresh) {
    uint64_t seed = (uint64_t)(uint32_t)unit << 23;
    uint64_t hash = null ? hash_bytes((const uint8_t *)"", 0, 0x51ED270B27A5F3C1ULL ^ seed)
                         : hash_bytes(data, size, 0x2545F4914F6CDD1DULL ^ seed);
    size_t at = hash & (b->table_capacity - 1);
    *fresh = 0;
    while (b->hashes[at]) {
        if (b->hashes[at] == hash) {
            uint32_t p = b->slots[at];
            uint64_t start = b->offsets[p], end = b->offsets[p + 1];
            if (b->units[p] == unit && b->null[p] == (uint8_t)null && end - start == size &&
                (size == 0 || memcmp(b->bytes + start, data, size) == 0))
                return p;
        }
        at = (at + 1) & (b->table_capacity - 1);
    }
    if (book_reserve(b, size) < 0) return -1;
    uint32_t p = (uint32_t)b->count++;
    if (size) memcpy(b->bytes + b->size, data, size);
    b->size += size;
    b->offsets[p + 1] = b->size;
    b->units[p] = unit;
    b->null[p] = (uint8_t)null;
    b->hashes[at] = hash;
    b->slots[at] = p;
    *fresh = 1;
    if (b->count * 2 > b->table_capacity && book_grow_table(b) < 0) return -1;
    return p;
}

/* book_find(book, targets, units) -> (pairs, fresh_rows, started_over): the book number of
   each row's (unit, target) pair (`targets`: an Arrow stream capsule of strings; `units`: one
   int32 per row), as uint32 bytes; the first row of each pair new to the book, in number order
   (new pairs are numbered from where the book stood, or from 0 if it started over, which
   `started_over` says). The whole stream is read and checked before a pair is added: a refused
   batch adds none. */
static PyObject *book_find(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *capsule, *stream_capsule, *units_obj;
    if (!PyArg_ParseTuple(args, "OOO", &capsule, &stream_capsule, &units_obj)) return NULL;
    book_t *b = PyCapsule_GetPointer(capsule, BOOK_CAPSULE);
    if (!b) return NULL;
    struct ArrowArrayStream *stream = PyCapsule_GetPointer(stream_capsule, "arrow_array_stream");
    if (!stream) return NULL;
    Py_buffer units = {0};
    if (PyObject_GetBuffer(units_obj, &units, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *result = NULL, *ids = NULL, *fresh_rows = NULL;
    chunks_t chunks = {0};
    uint32_t *fresh = NULL;
    size_t rows = 0, fresh_count = 0;
    struct ArrowSchema schema = {0};
    enum layout layout;
    if (units.len % 4) {
        PyErr_SetString(PyExc_ValueError, "book_find: units are not int32");
        goto done;
    }
    if (stream->get_schema(stream, &schema) != 0) {
        PyErr_SetString(PyExc_ValueError, "book_find: the stream gave no schema");
        goto done;
    }
    int known = layout_of(schema.format, &layout);
    if (schema.release) schema.release(&schema);
    if (known < 0) {
        PyErr_SetString(PyExc_TypeError, "book_find: the targets are not a string column");
        goto done;
    }
    for (;;) { /* every chunk read and checked first */
        struct ArrowArray *a;
        int got = chunks_next(&chunks, stream, layout, "book_find", &a);
        if (got < 0) goto done;
        if (got == 0) break;
        if ((uint64_t)a->length > (size_t)units.len / 4 - rows) {
            PyErr_SetString(PyExc_ValueError, "book_find: more targets than units");
            goto done;
        }
        for (int64_t i = 0; i < a->length; i++) {
            const uint8_t *data;
            uint32_t size;
            int null;
            if (address_of(a, layout, i, &data, &size, &null) < 0) {
                PyErr_SetString(PyExc_ValueError, "book_find: a target lies outside its buffers");
                goto done;
            }
        }
        rows += (size_t)a->length;
    }
    if (rows != (size_t)units.len / 4) {
        PyErr_SetString(PyExc_ValueError, "book_find: fewer targets than units");
        goto done;
    }
    if (rows >= UINT32_MAX / 2) {
        PyErr_SetString(PyExc_OverflowError, "book_find: more rows than uint32 numbers");
        goto done;
    }
    int started_over = b->count >= b->bound || b->size >= b->bytes_bound;
    if (started_over) book_clear(b);
    ids = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(rows * 4));
    fresh = malloc((rows + 1) * sizeof *fresh);
    if (!ids || !fresh) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto done;
    }
    uint32_t *out = (uint32_t *)PyBytes_AS_STRING(ids);
    const int32_t *unit = units.buf;
    size_t row = 0;
    for (size_t k = 0; k < chunks.count; k++) {
        const struct ArrowArray *a = &chunks.items[k];
        for (int64_t i = 0; i < a->length; i++, row++) {
            const uint8_t *data;
            uint32_t size;
            int null, is_new;
            address_of(a, layout, i, &data, &size, &null); /* (checked above) */
            int64_t p = book_pair(b, unit[row], data, size, null, &is_new);
            if (p < 0) {
                PyErr_NoMemory();
                goto done;
            }
            out[row] = (uint32_t)p;
            if (is_new) fresh[fresh_count++] = (uint32_t)row;
        }
    }
    fresh_rows = PyBytes_FromStringAndSize((const char *)fresh, (Py_ssize_t)(fresh_count * 4));
    if (fresh_rows) result = Py_BuildValue("(OON)", ids, fresh_rows, PyBool_FromLong(started_over));
done:
    Py_XDECREF(ids);
    Py_XDECREF(fresh_rows);
    free(fresh);
    chunks_release(&chunks);
    PyBuffer_Release(&units);
    return result;
}

static PyMethodDef methods[] = {
    {"group_ids", group_ids, METH_VARARGS,
     "group_ids(arrow_stream_capsule, numbers=None) -> (ids, firsts): uint32 bytes, see the module source."},
    {"fold_rows", fold_rows, METH_VARARGS, "fold_rows(...): see botguard.judge._ids.fold_rows."},
    {"running_new", running_new, METH_NOARGS, "running_new() -> state: an empty running fold (see the source)."},
    {"running_add", running_add, METH_VARARGS, "running_add(state, ...) -> disallowed: see botguard.judge._running."},
    {"running_emit", running_emit, METH_O, "running_emit(state) -> the running fold's clients and cells."},
    {"book_new", book_new, METH_VARARGS, "book_new(bound, bytes_bound) -> an empty pair book (see the source)."},
    {"book_find", book_find, METH_VARARGS, "book_find(book, targets, units) -> (pairs, fresh_rows, started_over)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fold", "The aggregator's compiled kernel.", -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fold(void) {
    process_seed = draw_seed();
    return PyModule_Create(&module);
}
