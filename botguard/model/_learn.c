/* botguard.model._learn: the stream learner's scoring and training kernel (see botguard/native.py).

   The door is botguard/model/_train.py, which says what each function takes and which pure
   Python it replaces (the twin and oracle: PartSums.get/PartIds.logit, ParamTable.lookup,
   Trainer.learn's masking loop, OnlineLR._logits and the Adagrad step of OnlineLR._learn_flat).

   Same bits as the twin: every sum adds in the twin's order (a part's weights in key order from
   0.0, then part0 + part1 + part2 and the bias; a row's gradients in example order from 0.0,
   then the bias's whole-batch sum), and the build turns FMA contraction off (setup.py).

   Nothing is trusted: every array's type, layout and length is checked on entry, and every
   index (a part id, a table row from the key index, which a snapshot file fills) is checked
   against the array it indexes before it is read or written; a bad one raises ValueError. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
   Buffers */

enum kind { INT64, FLOAT64, BOOL8 };

/* The buffer of `obj` as a C-contiguous array of `kind` (writable if asked); -1 with ValueError
   when it is not one. */
static int array_of(PyObject *obj, Py_buffer *view, enum kind kind, int writable, const char *name) {
    int flags = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "_learn: %s is not a contiguous%s array", name, writable ? " writable" : "");
        return -1;
    }
    const char *format = view->format ? view->format : "B";
    if (*format == '@' || *format == '=' || *format == '<') format++;
    int ok;
    switch (kind) {
    case INT64:
        ok = view->itemsize == 8 && (!strcmp(format, "l") || !strcmp(format, "q"));
        break;
    case FLOAT64:
        ok = view->itemsize == 8 && !strcmp(format, "d");
        break;
    default:
        ok = view->itemsize == 1 && !strcmp(format, "?");
        break;
    }
    if (!ok) {
        static const char *kinds[] = {"int64", "float64", "bool"};
        PyErr_Format(PyExc_ValueError, "_learn: %s is not %s", name, kinds[kind]);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static Py_ssize_t items(const Py_buffer *view) { return view->len / view->itemsize; }

/* Release the first `held` views. */
static void release(Py_buffer *views, int held) {
    for (int i = 0; i < held; i++) PyBuffer_Release(&views[i]);
}

/* A table row from the key index: -1 when the key has none, -2 with ValueError when its value is
   not an int in [0, bound). */
static int64_t row_of(PyObject *index, PyObject *key, Py_ssize_t bound) {
    PyObject *found = PyDict_GetItemWithError(index, key); /* borrowed */
    if (!found) return PyErr_Occurred() ? -2 : -1;
    if (!PyLong_Check(found)) {
        PyErr_SetString(PyExc_ValueError, "_learn: a key's row is not an int");
        return -2;
    }
    int overflow = 0;
    long long row = PyLong_AsLongLongAndOverflow(found, &overflow);
    if (overflow || row < 0 || row >= bound) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "_learn: a key's row lies outside the table");
        return -2;
    }
    return (int64_t)row;
}

/* ---------------------------------------------------------------------------------------------
   lookup(keys, index, bound, out): out[i] = index[keys[i]] or -1 (ParamTable.lookup). */

static PyObject *lookup(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *keys, *index, *out_obj;
    Py_ssize_t bound;
    if (!PyArg_ParseTuple(args, "OO!nO", &keys, &PyDict_Type, &index, &bound, &out_obj)) return NULL;
    PyObject *fast = PySequence_Fast(keys, "_learn.lookup: keys is not a sequence");
    if (!fast) return NULL;
    Py_buffer out;
    if (array_of(out_obj, &out, INT64, 1, "out") < 0) {
        Py_DECREF(fast);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fast);
    if (items(&out) != count) {
        PyErr_SetString(PyExc_ValueError, "_learn.lookup: out's length is not the keys'");
        goto done;
    }
    int64_t *rows = out.buf;
    PyObject **key = PySequence_Fast_ITEMS(fast);
    for (Py_ssize_t i = 0; i < count; i++) {
        int64_t row = row_of(index, key[i], bound);
        if (row == -2) goto done;
        rows[i] = row;
    }
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&out);
    Py_DECREF(fast);
    return result;
}

/* ---------------------------------------------------------------------------------------------
   part_logits(ids, start, stop, parts, value, epoch, index, w, now, bias, out)

   ids: int64 (kinds, columns), each request's part id per kind of part; for the requests
   [start, stop): a part whose epoch[id] != now gets value[id] = the sum of w over its keys with a
   row (key order, from 0.0) and epoch[id] = now; then out[r - start] = bias + (value[id0] +
   value[id1] + ...) (PartIds.logit, PartSums.get). */

static int part_sum(PyObject *part, PyObject *index, const double *w, Py_ssize_t rows, double *sum) {
    if (!PyTuple_Check(part)) {
        PyErr_SetString(PyExc_ValueError, "_learn.part_logits: a part is not a tuple");
        return -1;
    }
    double s = 0.0;
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(part); k++) {
        int64_t row = row_of(index, PyTuple_GET_ITEM(part, k), rows);
        if (row == -2) return -1;
        if (row >= 0) s += w[row];
    }
    *sum = s;
    return 0;
}

static PyObject *part_logits(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *objects[5], *parts, *index;
    Py_ssize_t start, stop;
    long long now;
    double bias;
    if (!PyArg_ParseTuple(args, "OnnO!OOO!OLdO", &objects[0], &start, &stop, &PyList_Type, &parts, &objects[1],
                          &objects[2], &PyDict_Type, &index, &objects[3], &now, &bias, &objects[4]))
        return NULL;
    static const char *names[] = {"ids", "value", "epoch", "w", "out"};
    static const enum kind kinds[] = {INT64, FLOAT64, INT64, FLOAT64, FLOAT64};
    static const int writable[] = {0, 1, 1, 0, 1};
    Py_buffer views[5];
    int held = 0;
    PyObject *result = NULL;
    for (; held < 5; held++)
        if (array_of(objects[held], &views[held], kinds[held], writable[held], names[held]) < 0) goto done;
    Py_ssize_t n_parts = PyList_GET_SIZE(parts);
    if (views[0].ndim != 2 || views[0].shape[0] < 1) {
        PyErr_SetString(PyExc_ValueError, "_learn.part_logits: ids is not (kinds, columns)");
        goto done;
    }
    Py_ssize_t n_kinds = views[0].shape[0], columns = views[0].shape[1];
    if (start < 0 || stop < start || stop > columns || items(&views[4]) != stop - start ||
        items(&views[1]) != n_parts || items(&views[2]) != n_parts) {
        PyErr_SetString(PyExc_ValueError, "_learn.part_logits: lengths do not fit");
        goto done;
    }
    const int64_t *ids = views[0].buf;
    double *value = views[1].buf, *out = views[4].buf;
    int64_t *epoch = views[2].buf;
    const double *w = views[3].buf;
    Py_ssize_t rows = items(&views[3]);
    for (Py_ssize_t c = start; c < stop; c++) {
        double z = 0.0;
        for (Py_ssize_t k = 0; k < n_kinds; k++) {
            int64_t id = ids[k * columns + c];
            if (id < 0 || id >= n_parts) {
                PyErr_SetString(PyExc_ValueError, "_learn.part_logits: a part id lies outside the parts");
                goto done;
            }
            if (epoch[id] != now) {
                if (part_sum(PyList_GET_ITEM(parts, id), index, w, rows, &value[id]) < 0) goto done;
                epoch[id] = now;
            }
            z = k ? z + value[id] : value[id];
        }
        out[c - start] = bias + z;
    }
    result = Py_NewRef(Py_None);
done:
    release(views, held);
    return result;
}

/* ---------------------------------------------------------------------------------------------
   masked_keys(parts, sources, memos, masks, limit) -> (keys, lens)

   Trainer.learn's flattening: example e's keys are its parts' keys without the slots its label
   source read (masks[source], a set of slots; a key's slot is its text before the first "=").
   memos[source] maps id(part) -> (part, masked part); an entry whose part is another object
   (its id reused) is not trusted, and a memo past `limit` entries starts over (Trainer._masked).
   lens: int64 bytes, example e's key count. */

/* The entry (part, its keys whose slot is not in `read`) stored in `memo` under `id`. */
static PyObject *masked_part(PyObject *memo, PyObject *id, PyObject *part, PyObject *read, Py_ssize_t limit) {
    if (!PyTuple_Check(part)) {
        PyErr_SetString(PyExc_ValueError, "_learn.masked_keys: a part is not a tuple");
        return NULL;
    }
    if (PyDict_GET_SIZE(memo) > limit) PyDict_Clear(memo);
    Py_ssize_t size = PyTuple_GET_SIZE(part), count = 0;
    PyObject *kept = PyTuple_New(size), *entry = NULL;
    if (!kept) return NULL;
    for (Py_ssize_t k = 0; k < size; k++) {
        PyObject *key = PyTuple_GET_ITEM(part, k);
        if (!PyUnicode_Check(key)) {
            PyErr_SetString(PyExc_ValueError, "_learn.masked_keys: a key is not a str");
            goto done;
        }
        Py_ssize_t cut = PyUnicode_FindChar(key, '=', 0, PyUnicode_GET_LENGTH(key), 1);
        if (cut == -2) goto done;
        PyObject *slot = cut >= 0 ? PyUnicode_Substring(key, 0, cut) : Py_NewRef(key);
        if (!slot) goto done;
        int masked = PySet_Contains(read, slot);
        Py_DECREF(slot);
        if (masked < 0) goto done;
        if (!masked) PyTuple_SET_ITEM(kept, count++, Py_NewRef(key));
    }
    if (count < size && _PyTuple_Resize(&kept, count) < 0) return NULL; /* frees kept on failure */
    entry = PyTuple_Pack(2, part, kept);
    if (entry && PyDict_SetItem(memo, id, entry) < 0) Py_CLEAR(entry);
done:
    Py_XDECREF(kept);
    return entry;
}

/* The memo entry of `part`, made if missing (a new reference). */
static PyObject *masked_entry(PyObject *memo, PyObject *part, PyObject *read, Py_ssize_t limit) {
    PyObject *id = PyLong_FromVoidPtr(part);
    if (!id) return NULL;
    PyObject *hit = PyDict_GetItemWithError(memo, id); /* borrowed */
    if (hit && PyTuple_Check(hit) && PyTuple_GET_SIZE(hit) == 2 && PyTuple_GET_ITEM(hit, 0) == part) {
        Py_DECREF(id);
        return Py_NewRef(hit);
    }
    PyObject *entry = PyErr_Occurred() ? NULL : masked_part(memo, id, part, read, limit);
    Py_DECREF(id);
    return entry;
}

static PyObject *masked_keys(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *parts, *sources, *memos, *masks;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "O!O!O!O!n", &PyList_Type, &parts, &PyList_Type, &sources, &PyDict_Type, &memos,
                          &PyDict_Type, &masks, &limit))
        return NULL;
    Py_ssize_t count = PyList_GET_SIZE(parts);
    if (PyList_GET_SIZE(sources) != count) {
        PyErr_SetString(PyExc_ValueError, "_learn.masked_keys: one source per example");
        return NULL;
    }
    PyObject *keys = PyList_New(0), *lens_bytes = PyBytes_FromStringAndSize(NULL, count * 8), *result = NULL;
    if (!keys || !lens_bytes) goto done;
    int64_t *lens = (int64_t *)PyBytes_AS_STRING(lens_bytes);
    for (Py_ssize_t e = 0; e < count; e++) {
        PyObject *example = PyList_GET_ITEM(parts, e), *source = PyList_GET_ITEM(sources, e);
        PyObject *memo = PyDict_GetItemWithError(memos, source); /* borrowed */
        PyObject *read = memo ? PyDict_GetItemWithError(masks, source) : NULL;
        if (!memo || !read) {
            if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, source);
            goto done;
        }
        if (!PyTuple_Check(example) || !PyDict_Check(memo) || !PyAnySet_Check(read)) {
            PyErr_SetString(PyExc_ValueError, "_learn.masked_keys: an example is not a tuple of parts");
            goto done;
        }
        int64_t size = 0;
        for (Py_ssize_t p = 0; p < PyTuple_GET_SIZE(example); p++) {
            PyObject *hit = masked_entry(memo, PyTuple_GET_ITEM(example, p), read, limit);
            if (!hit) goto done;
            PyObject *kept = PyTuple_GET_SIZE(hit) == 2 ? PyTuple_GET_ITEM(hit, 1) : NULL;
            if (!kept || !PyTuple_Check(kept)) {
                Py_DECREF(hit);
                PyErr_SetString(PyExc_ValueError, "_learn.masked_keys: a memo entry is not (part, tuple)");
                goto done;
            }
            for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(kept); k++) {
                if (PyList_Append(keys, PyTuple_GET_ITEM(kept, k)) < 0) {
                    Py_DECREF(hit);
                    goto done;
                }
            }
            size += PyTuple_GET_SIZE(kept);
            Py_DECREF(hit);
        }
        lens[e] = size;
    }
    result = PyTuple_Pack(2, keys, lens_bytes);
done:
    Py_XDECREF(keys);
    Py_XDECREF(lens_bytes);
    return result;
}

/* ---------------------------------------------------------------------------------------------
   event_logits(rows, lens, w, bias_row, out): out[e] = (sum of w over event e's rows >= 0, from
   0.0, in order) + w[bias_row] if bias_row >= 0 (OnlineLR._logits without values). */

/* rows (int64, each -1 or a row of w), lens (int64, >= 0, summing to len(rows)): 0, or -1 with
   ValueError. */
static int check_rows(const Py_buffer *rows, const Py_buffer *lens, Py_ssize_t table, int64_t bias_row) {
    const int64_t *row = rows->buf, *len = lens->buf;
    Py_ssize_t total = 0;
    for (Py_ssize_t e = 0; e < items(lens); e++) {
        if (len[e] < 0 || len[e] > items(rows) - total) {
            PyErr_SetString(PyExc_ValueError, "_learn: the events' lengths do not sum to the rows'");
            return -1;
        }
        total += len[e];
    }
    if (total != items(rows)) {
        PyErr_SetString(PyExc_ValueError, "_learn: the events' lengths do not sum to the rows'");
        return -1;
    }
    for (Py_ssize_t i = 0; i < total; i++) {
        if (row[i] < -1 || row[i] >= table) {
            PyErr_SetString(PyExc_ValueError, "_learn: a row lies outside the table");
            return -1;
        }
    }
    if (bias_row < -1 || bias_row >= table) {
        PyErr_SetString(PyExc_ValueError, "_learn: the bias row lies outside the table");
        return -1;
    }
    return 0;
}

static PyObject *event_logits(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *objects[4];
    long long bias_row;
    if (!PyArg_ParseTuple(args, "OOOLO", &objects[0], &objects[1], &objects[2], &bias_row, &objects[3]))
        return NULL;
    static const char *names[] = {"rows", "lens", "w", "out"};
    static const enum kind kinds[] = {INT64, INT64, FLOAT64, FLOAT64};
    Py_buffer views[4];
    int held = 0;
    PyObject *result = NULL;
    for (; held < 4; held++)
        if (array_of(objects[held], &views[held], kinds[held], held == 3, names[held]) < 0) goto done;
    if (items(&views[3]) != items(&views[1])) {
        PyErr_SetString(PyExc_ValueError, "_learn.event_logits: out's length is not the events'");
        goto done;
    }
    if (check_rows(&views[0], &views[1], items(&views[2]), bias_row) < 0) goto done;
    const int64_t *row = views[0].buf, *len = views[1].buf;
    const double *w = views[2].buf;
    double *out = views[3].buf;
    Py_ssize_t at = 0;
    for (Py_ssize_t e = 0; e < items(&views[1]); e++) {
        double z = 0.0;
        for (int64_t k = 0; k < len[e]; k++, at++)
            if (row[at] >= 0) z += w[row[at]];
        out[e] = bias_row >= 0 ? z + w[bias_row] : z;
    }
    result = Py_NewRef(Py_None);
done:
    release(views, held);
    return result;
}

/* ---------------------------------------------------------------------------------------------
   adagrad(rows, lens, err, err_sum, bias_row, w, n, last, dirty, lr, eps, stamp)

   One Adagrad step of a batch of binary examples (OnlineLR._learn_flat, _per_row, _adagrad,
   ParamTable.touch): each distinct row's gradient is the sum of its events' errors in example
   order from 0.0; the bias row's is that plus err_sum (or err_sum alone when no example names
   the bias key); then n += g*g, w -= lr*g / (sqrt(n) + eps), last = stamp, dirty = True. */

/* Distinct rows in first-seen order with their gradient sums (open addressing, a power-of-two
   capacity at least twice the rows): each row's sum adds its gradients in the order given. */
typedef struct {
    int64_t *slot_row; /* -1: empty */
    Py_ssize_t *slot_at;
    int64_t *rows;
    double *grads;
    Py_ssize_t count;
    size_t mask;
} sums_t;

static int sums_init(sums_t *s, Py_ssize_t most) {
    size_t capacity = 16;
    while (capacity < 2 * (size_t)most) capacity *= 2;
    s->slot_row = malloc(capacity * sizeof *s->slot_row);
    s->slot_at = malloc(capacity * sizeof *s->slot_at);
    s->rows = malloc(((size_t)most + 1) * sizeof *s->rows);
    s->grads = malloc(((size_t)most + 1) * sizeof *s->grads);
    s->count = 0;
    s->mask = capacity - 1;
    if (!s->slot_row || !s->slot_at || !s->rows || !s->grads) return -1;
    memset(s->slot_row, 0xFF, capacity * sizeof *s->slot_row);
    return 0;
}

static void sums_free(sums_t *s) {
    free(s->slot_row);
    free(s->slot_at);
    free(s->rows);
    free(s->grads);
}

static void sums_add(sums_t *s, int64_t row, double g) {
    size_t at = ((uint64_t)row * 0x9E3779B97F4A7C15ULL >> 17) & s->mask;
    while (s->slot_row[at] != -1 && s->slot_row[at] != row) at = (at + 1) & s->mask;
    if (s->slot_row[at] == -1) {
        s->slot_row[at] = row;
        s->slot_at[at] = s->count;
        s->rows[s->count] = row;
        s->grads[s->count++] = 0.0;
    }
    s->grads[s->slot_at[at]] += g;
}

static void step(double *w, double *n, double *last, uint8_t *dirty, int64_t row, double g, double lr, double eps,
                 double stamp) {
    double grown = n[row] + g * g;
    n[row] = grown;
    w[row] = w[row] - lr * g / (sqrt(grown) + eps);
    last[row] = stamp;
    dirty[row] = 1;
}

static PyObject *adagrad(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *objects[7];
    double err_sum, lr, eps, stamp;
    long long bias_row;
    if (!PyArg_ParseTuple(args, "OOOdLOOOOddd", &objects[0], &objects[1], &objects[2], &err_sum, &bias_row,
                          &objects[3], &objects[4], &objects[5], &objects[6], &lr, &eps, &stamp))
        return NULL;
    static const char *names[] = {"rows", "lens", "err", "w", "n", "last", "dirty"};
    static const enum kind kinds[] = {INT64, INT64, FLOAT64, FLOAT64, FLOAT64, FLOAT64, BOOL8};
    static const int writable[] = {0, 0, 0, 1, 1, 1, 1};
    Py_buffer views[7];
    int held = 0;
    PyObject *result = NULL;
    sums_t sums = {0};
    for (; held < 7; held++)
        if (array_of(objects[held], &views[held], kinds[held], writable[held], names[held]) < 0) goto done;
    Py_ssize_t table = items(&views[3]);
    if (items(&views[2]) != items(&views[1]) || items(&views[4]) != table || items(&views[5]) != table ||
        items(&views[6]) != table) {
        PyErr_SetString(PyExc_ValueError, "_learn.adagrad: lengths do not fit");
        goto done;
    }
    if (check_rows(&views[0], &views[1], table, bias_row) < 0) goto done;
    const int64_t *row = views[0].buf, *len = views[1].buf;
    const double *err = views[2].buf;
    double *w = views[3].buf, *n = views[4].buf, *last = views[5].buf;
    uint8_t *dirty = views[6].buf;
    Py_ssize_t total = items(&views[0]), at = 0;
    if (sums_init(&sums, total) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t e = 0; e < items(&views[1]); e++)
        for (int64_t k = 0; k < len[e]; k++, at++)
            if (row[at] >= 0) sums_add(&sums, row[at], err[e]);
    int bias_named = 0;
    for (Py_ssize_t i = 0; i < sums.count; i++) {
        double g = sums.grads[i];
        if (sums.rows[i] == bias_row) {
            g += err_sum;
            bias_named = 1;
        }
        step(w, n, last, dirty, sums.rows[i], g, lr, eps, stamp);
    }
    if (bias_row >= 0 && !bias_named) step(w, n, last, dirty, bias_row, err_sum, lr, eps, stamp);
    result = Py_NewRef(Py_None);
done:
    sums_free(&sums);
    release(views, held);
    return result;
}

/* ---------------------------------------------------------------------------------------------
   take_dirty(dirty, live, used, keys) -> (rows, row_keys)

   The rows below `used` both dirty and live, ascending (int64 bytes), each one's key
   (keys[row]), and their dirty bits cleared (ParamTable.take_delta). */

static PyObject *take_dirty(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *objects[2], *keys;
    Py_ssize_t used;
    if (!PyArg_ParseTuple(args, "OOnO!", &objects[0], &objects[1], &used, &PyList_Type, &keys)) return NULL;
    Py_buffer views[2];
    int held = 0;
    PyObject *result = NULL, *rows_bytes = NULL, *row_keys = NULL;
    for (; held < 2; held++)
        if (array_of(objects[held], &views[held], BOOL8, held == 0, held ? "live" : "dirty") < 0) goto done;
    if (used < 0 || used > items(&views[0]) || used > items(&views[1]) || used > PyList_GET_SIZE(keys)) {
        PyErr_SetString(PyExc_ValueError, "_learn.take_dirty: lengths do not fit");
        goto done;
    }
    uint8_t *dirty = views[0].buf;
    const uint8_t *live = views[1].buf;
    Py_ssize_t count = 0;
    for (Py_ssize_t r = 0; r < used; r++) count += dirty[r] && live[r];
    rows_bytes = PyBytes_FromStringAndSize(NULL, count * 8);
    row_keys = PyTuple_New(count);
    if (!rows_bytes || !row_keys) goto done;
    int64_t *rows = (int64_t *)PyBytes_AS_STRING(rows_bytes);
    Py_ssize_t at = 0;
    for (Py_ssize_t r = 0; r < used; r++) {
        if (!(dirty[r] && live[r])) continue;
        rows[at] = r;
        PyTuple_SET_ITEM(row_keys, at++, Py_NewRef(PyList_GET_ITEM(keys, r)));
        dirty[r] = 0;
    }
    result = PyTuple_Pack(2, rows_bytes, row_keys);
done:
    Py_XDECREF(rows_bytes);
    Py_XDECREF(row_keys);
    release(views, held);
    return result;
}

/* ---------------------------------------------------------------------------------------------
   put_weights(keys, weights, index, w) -> missing

   w[index[keys[i]]] = weights[i] for every key with a row; the positions of those without one
   (a list, ascending), which the caller gives rows (ParamTable.apply_delta). */

static PyObject *put_weights(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *keys, *index, *objects[2];
    if (!PyArg_ParseTuple(args, "O!OO!O", &PyTuple_Type, &keys, &objects[0], &PyDict_Type, &index, &objects[1]))
        return NULL;
    Py_buffer views[2];
    int held = 0;
    PyObject *result = NULL, *missing = NULL;
    for (; held < 2; held++)
        if (array_of(objects[held], &views[held], FLOAT64, held == 1, held ? "w" : "weights") < 0) goto done;
    Py_ssize_t count = PyTuple_GET_SIZE(keys);
    if (items(&views[0]) != count) {
        PyErr_SetString(PyExc_ValueError, "_learn.put_weights: one weight per key");
        goto done;
    }
    const double *weights = views[0].buf;
    double *w = views[1].buf;
    missing = PyList_New(0);
    if (!missing) goto done;
    for (Py_ssize_t i = 0; i < count; i++) {
        int64_t row = row_of(index, PyTuple_GET_ITEM(keys, i), items(&views[1]));
        if (row == -2) goto done;
        if (row >= 0) {
            w[row] = weights[i];
            continue;
        }
        PyObject *at = PyLong_FromSsize_t(i);
        if (!at || PyList_Append(missing, at) < 0) {
            Py_XDECREF(at);
            goto done;
        }
        Py_DECREF(at);
    }
    result = Py_NewRef(missing);
done:
    Py_XDECREF(missing);
    release(views, held);
    return result;
}

static PyMethodDef methods[] = {
    {"lookup", lookup, METH_VARARGS, "lookup(keys, index, bound, out): see botguard.model._train."},
    {"part_logits", part_logits, METH_VARARGS, "part_logits(...): see botguard.model._train."},
    {"masked_keys", masked_keys, METH_VARARGS, "masked_keys(parts, sources, memos, masks, limit): see botguard.model._train."},
    {"event_logits", event_logits, METH_VARARGS, "event_logits(rows, lens, w, bias_row, out): see botguard.model._train."},
    {"adagrad", adagrad, METH_VARARGS, "adagrad(...): see botguard.model._train."},
    {"take_dirty", take_dirty, METH_VARARGS, "take_dirty(dirty, live, used, keys): see botguard.model._train."},
    {"put_weights", put_weights, METH_VARARGS, "put_weights(keys, weights, index, w): see botguard.model._train."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_learn", "The stream learner's scoring and training kernel.",
                                   -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__learn(void) { return PyModule_Create(&module); }
