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

/* The Arrow C data interface (https://arrow.apache.org/docs/format/CDataInterface.html). */
struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

struct ArrowArrayStream {
    int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
    int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
    const char *(*get_last_error)(struct ArrowArrayStream *);
    void (*release)(struct ArrowArrayStream *);
    void *private_data;
};

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

static uint64_t hash_bytes(const uint8_t *data, size_t size, uint64_t seed) {
    const uint64_t k0 = 0xA0761D6478BD642FULL, k1 = 0xE7037ED1A0B428DBULL, k2 = 0x8EBC6AF09C88C6E3ULL;
    uint64_t h = seed ^ mum(size ^ k0, k1);
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

static int table_grow(table_t *t) {
    size_t capacity = t->capacity * 2;
    uint64_t *hashes = calloc(capacity, sizeof *hashes);
    uint32_t *ids = malloc(capacity * sizeof *ids);
    if (!hashes || !ids) {
        free(hashes);
        free(ids);
        return -1;
    }
    for (size_t i = 0; i < t->capacity; i++) {
        if (!t->hashes[i]) continue;
        size_t at = t->hashes[i] & (capacity - 1);
        while (hashes[at]) at = (at + 1) & (capacity - 1);
        hashes[at] = t->hashes[i];
        ids[at] = t->ids[i];
    }
    free(t->hashes);
    free(t->ids);
    t->hashes = hashes;
    t->ids = ids;
    t->capacity = capacity;
    return 0;
}

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

static PyObject *group_ids(PyObject *self, PyObject *args) {
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
        if (chunks.count == chunks.capacity) {
            size_t more = chunks.capacity ? chunks.capacity * 2 : 4;
            struct ArrowArray *items = realloc(chunks.items, more * sizeof *items);
            if (!items) {
                PyErr_NoMemory();
                goto done;
            }
            chunks.items = items;
            chunks.capacity = more;
        }
        struct ArrowArray *a = &chunks.items[chunks.count];
        memset(a, 0, sizeof *a);
        if (stream->get_next(stream, a) != 0) {
            PyErr_SetString(PyExc_ValueError, "group_ids: the stream failed");
            goto done;
        }
        if (!a->release) break; /* the end of the stream */
        chunks.count++;
        if (!chunk_ok(a, layout)) {
            PyErr_SetString(PyExc_ValueError, "group_ids: a chunk is not laid out as its type says");
            goto done;
        }
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
    c->bytes[at] += bytes;
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
        uint8_t f = pair_flags[p], r = row_flags[i];
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
        s[C_CLIENT_ERRORS] += status[i] >= 400 && status[i] < 500;
        bad[i] = (uint8_t)refused;
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

static PyMethodDef methods[] = {
    {"group_ids", group_ids, METH_VARARGS,
     "group_ids(arrow_stream_capsule, numbers=None) -> (ids, firsts): uint32 bytes, see the module source."},
    {"fold_rows", fold_rows, METH_VARARGS, "fold_rows(...): see botguard.judge._ids.fold_rows."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fold", "The aggregator's compiled kernel.", -1, methods};

PyMODINIT_FUNC PyInit__fold(void) { return PyModule_Create(&module); }
