/* botguard.model._sigbook: the signature book's statistics held in C (see botguard/native.py).

   The door is botguard/model/signature_arrays.py (ArraySignatureBook); the twin and oracle is
   botguard.model.signatures.SignatureBook (add_groups, _merged, _fold, expire).

   State: one slot per signature key (the door interns keys to slots), its statistics as
   struct-of-arrays (counts, float sums, first/last times, proposal), its capped id sets (ips,
   nets, agents: ids the door interns from strings; only ids cross into C), its label counts in
   first-seen order and a ring of its last samples (references to the caller's objects). No
   string from a log is ever read here.

   Same bits as the twin: a key's groups are summed in group order (psum as doubles from the
   first group's), then recent_x = recent_x * decay**n + acc_x, and the build turns FMA
   contraction off (setup.py). The sets keep the twin's soft caps: a set below its cap takes a
   whole group's set, so it may end above the cap, exactly as set.update does.

   Nothing is trusted: every list's type and length, every offset, slot and id is checked before
   any state changes; a bad one raises ValueError. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NETS_CAP 8   /* SignatureBook._fold: nets below 8 take more */
#define AGENTS_CAP 8 /* likewise agents */

/* ---------------------------------------------------------------------------------------------
   Small growable vectors */

typedef struct {
    int32_t *v;
    int32_t n, cap;
} idset;

typedef struct {
    int32_t *id;
    int64_t *count;
    int32_t n, cap;
} labels_t;

static int idset_has(const idset *s, int32_t id) {
    for (int32_t i = 0; i < s->n; i++)
        if (s->v[i] == id) return 1;
    return 0;
}

/* Add `id` unless present; -1 with MemoryError. */
static int idset_add(idset *s, int32_t id) {
    if (idset_has(s, id)) return 0;
    if (s->n == s->cap) {
        int32_t cap = s->cap ? s->cap * 2 : 4;
        int32_t *v = PyMem_Realloc(s->v, (size_t)cap * sizeof(int32_t));
        if (!v) {
            PyErr_NoMemory();
            return -1;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = id;
    return 0;
}

static int idset_add_all(idset *s, const int32_t *ids, Py_ssize_t count) {
    for (Py_ssize_t i = 0; i < count; i++)
        if (idset_add(s, ids[i]) < 0) return -1;
    return 0;
}

static void idset_free(idset *s) {
    PyMem_Free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

/* counts[id] += count, a new id appended (dict insertion order); -1 with MemoryError. */
static int labels_add(labels_t *l, int32_t id, int64_t count) {
    for (int32_t i = 0; i < l->n; i++)
        if (l->id[i] == id) {
            l->count[i] += count;
            return 0;
        }
    if (l->n == l->cap) {
        int32_t cap = l->cap ? l->cap * 2 : 2;
        int32_t *ids = PyMem_Realloc(l->id, (size_t)cap * sizeof(int32_t));
        if (!ids) return PyErr_NoMemory(), -1;
        l->id = ids;
        int64_t *counts = PyMem_Realloc(l->count, (size_t)cap * sizeof(int64_t));
        if (!counts) return PyErr_NoMemory(), -1;
        l->count = counts;
        l->cap = cap;
    }
    l->id[l->n] = id;
    l->count[l->n++] = count;
    return 0;
}

static void labels_free(labels_t *l) {
    PyMem_Free(l->id);
    PyMem_Free(l->count);
    l->id = NULL;
    l->count = NULL;
    l->n = l->cap = 0;
}

/* ---------------------------------------------------------------------------------------------
   The book */

typedef struct {
    PyObject_HEAD
    Py_ssize_t cap; /* slots allocated */
    int64_t max_ips, samples, verified_id;
    double decay;
    /* the bars a key must pass before the door runs qualifies() on it (CandidateRules) */
    int64_t min_requests, min_ips, min_requests_single_net;
    double max_human_share, lcb;
    double *first_seen, *last_seen, *recent_n, *recent_high, *recent_p, *proposed_at;
    int64_t *requests, *verified, *human, *welcome, *to_candidate;
    uint8_t *live;
    idset *ips, *nets, *agents;
    labels_t *labels;
    PyObject **ring; /* cap * samples references (NULL: empty) */
    int32_t *ring_n, *ring_head;
    int64_t *batch_key; /* per slot: its index among a fold's keys, -1 outside a fold */
} Book;

static void clear_slot(Book *b, Py_ssize_t s) {
    idset_free(&b->ips[s]);
    idset_free(&b->nets[s]);
    idset_free(&b->agents[s]);
    labels_free(&b->labels[s]);
    for (int64_t i = 0; i < b->samples; i++) Py_CLEAR(b->ring[s * b->samples + i]);
    b->ring_n[s] = b->ring_head[s] = 0;
    b->live[s] = 0;
}

static void init_slot(Book *b, Py_ssize_t s, double now) {
    b->first_seen[s] = b->last_seen[s] = now;
    b->recent_n[s] = b->recent_high[s] = b->recent_p[s] = 0.0;
    b->proposed_at[s] = NAN;
    b->requests[s] = b->verified[s] = b->human[s] = b->welcome[s] = 0;
    b->to_candidate[s] = -1;
    b->live[s] = 1;
}

#define GROW(field, type)                                                                          \
    do {                                                                                           \
        type *p = PyMem_Realloc(b->field, (size_t)cap * sizeof(type));                             \
        if (!p) return PyErr_NoMemory(), -1;                                                       \
        b->field = p;                                                                              \
    } while (0)

/* Grow to at least `want` slots (new ones empty, not live); -1 with MemoryError. */
static int grow(Book *b, Py_ssize_t want) {
    if (want <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 64;
    while (cap < want) cap *= 2;
    GROW(first_seen, double);
    GROW(last_seen, double);
    GROW(recent_n, double);
    GROW(recent_high, double);
    GROW(recent_p, double);
    GROW(proposed_at, double);
    GROW(requests, int64_t);
    GROW(verified, int64_t);
    GROW(human, int64_t);
    GROW(welcome, int64_t);
    GROW(to_candidate, int64_t);
    GROW(live, uint8_t);
    GROW(ips, idset);
    GROW(nets, idset);
    GROW(agents, idset);
    GROW(labels, labels_t);
    GROW(ring_n, int32_t);
    GROW(ring_head, int32_t);
    GROW(batch_key, int64_t);
    if (b->samples) {
        PyObject **ring = PyMem_Realloc(b->ring, (size_t)(cap * b->samples) * sizeof(PyObject *));
        if (!ring) return PyErr_NoMemory(), -1;
        b->ring = ring;
        memset(ring + b->cap * b->samples, 0, (size_t)((cap - b->cap) * b->samples) * sizeof(PyObject *));
    }
    for (Py_ssize_t s = b->cap; s < cap; s++) {
        memset(&b->ips[s], 0, sizeof(idset));
        memset(&b->nets[s], 0, sizeof(idset));
        memset(&b->agents[s], 0, sizeof(idset));
        memset(&b->labels[s], 0, sizeof(labels_t));
        b->live[s] = 0;
        b->ring_n[s] = b->ring_head[s] = 0;
        b->batch_key[s] = -1;
    }
    b->cap = cap;
    return 0;
}

static void book_dealloc(Book *b) {
    PyObject_GC_UnTrack(b);
    for (Py_ssize_t s = 0; s < b->cap; s++) clear_slot(b, s);
    PyMem_Free(b->first_seen);
    PyMem_Free(b->last_seen);
    PyMem_Free(b->recent_n);
    PyMem_Free(b->recent_high);
    PyMem_Free(b->recent_p);
    PyMem_Free(b->proposed_at);
    PyMem_Free(b->requests);
    PyMem_Free(b->verified);
    PyMem_Free(b->human);
    PyMem_Free(b->welcome);
    PyMem_Free(b->to_candidate);
    PyMem_Free(b->live);
    PyMem_Free(b->ips);
    PyMem_Free(b->nets);
    PyMem_Free(b->agents);
    PyMem_Free(b->labels);
    PyMem_Free(b->ring);
    PyMem_Free(b->ring_n);
    PyMem_Free(b->ring_head);
    PyMem_Free(b->batch_key);
    Py_TYPE(b)->tp_free((PyObject *)b);
}

/* Book(max_ips, samples, decay, verified_id, min_requests, min_ips, min_requests_single_net,
        max_human_share, lcb) */
static int book_init(Book *b, PyObject *args, PyObject *kwds) {
    (void)kwds;
    long long max_ips, samples, verified_id, min_requests, min_ips, single_net;
    double decay, human_share, lcb;
    if (!PyArg_ParseTuple(args, "LLdLLLLdd", &max_ips, &samples, &decay, &verified_id, &min_requests, &min_ips,
                          &single_net, &human_share, &lcb))
        return -1;
    if (b->cap) {
        PyErr_SetString(PyExc_ValueError, "_sigbook.Book: already initialised");
        return -1;
    }
    if (max_ips < 0 || samples < 0 || samples > 1 << 20 || verified_id < 0 || verified_id > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "_sigbook.Book: a negative or huge cap");
        return -1;
    }
    b->max_ips = max_ips;
    b->samples = samples;
    b->decay = decay;
    b->verified_id = verified_id;
    b->min_requests = min_requests;
    b->min_ips = min_ips;
    b->min_requests_single_net = single_net;
    b->max_human_share = human_share;
    b->lcb = lcb;
    return grow(b, 64);
}

/* ---------------------------------------------------------------------------------------------
   Reading the caller's lists (or tuples) */

static int is_seq(PyObject *obj) { return PyList_Check(obj) || PyTuple_Check(obj); }

/* The list `obj` as int64s in [lo, hi) (PyMem_Malloc'd, *len set; a float with an integral value
   is taken as its int, as the twin's += would count it); NULL with ValueError otherwise. */
static int64_t *ints_of(PyObject *obj, Py_ssize_t *len, int64_t lo, int64_t hi, const char *name) {
    if (!is_seq(obj)) {
        PyErr_Format(PyExc_ValueError, "_sigbook: %s is not a list", name);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(obj);
    int64_t *out = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    if (!out) return (int64_t *)PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(obj, i);
        long long v;
        if (PyLong_Check(item)) {
            int overflow = 0;
            v = PyLong_AsLongLongAndOverflow(item, &overflow);
            if (overflow || (v == -1 && PyErr_Occurred())) goto bad;
        } else if (PyFloat_Check(item)) {
            double d = PyFloat_AS_DOUBLE(item);
            if (!(d >= -9.0e15 && d <= 9.0e15) || d != floor(d)) goto bad;
            v = (long long)d;
        } else {
            goto bad;
        }
        if (v < lo || v >= hi) goto bad;
        out[i] = v;
    }
    *len = n;
    return out;
bad:
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "_sigbook: %s holds a value that is not an int in range", name);
    PyMem_Free(out);
    return NULL;
}

/* The list `obj` of floats (or ints) as doubles; NULL with ValueError otherwise. */
static double *doubles_of(PyObject *obj, Py_ssize_t *len, const char *name) {
    if (!is_seq(obj)) {
        PyErr_Format(PyExc_ValueError, "_sigbook: %s is not a list", name);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(obj);
    double *out = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(double));
    if (!out) return (double *)PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(obj, i);
        if (!PyFloat_Check(item) && !PyLong_Check(item)) {
            PyErr_Format(PyExc_ValueError, "_sigbook: %s holds a value that is not a float", name);
            PyMem_Free(out);
            return NULL;
        }
        out[i] = PyFloat_AsDouble(item);
        if (out[i] == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "_sigbook: %s holds a value that is not a float", name);
            PyMem_Free(out);
            return NULL;
        }
    }
    *len = n;
    return out;
}

/* Whether `at` (groups + 1 offsets) cuts a flat list of `flat` items: 0, non-decreasing, `flat`. */
static int offsets_ok(const int64_t *at, Py_ssize_t at_len, Py_ssize_t groups, Py_ssize_t flat, const char *name) {
    int ok = at_len == groups + 1 && at[0] == 0 && at[groups] == flat;
    for (Py_ssize_t g = 0; ok && g < groups; g++) ok = at[g] <= at[g + 1];
    if (!ok) PyErr_Format(PyExc_ValueError, "_sigbook: %s does not cut its list into the groups", name);
    return ok;
}

/* ---------------------------------------------------------------------------------------------
   fold(now, names, keys, key_at, known, n, high, psum, human, welcome, xs,
        ips, ip_at, nets, net_at, agents, agent_at, label_ids, label_counts, label_at)
   -> the slots past the scalar bars (past_bars), in first-seen order

   One micro-batch (SignatureBook.add_groups): group g's keys are the slots keys[key_at[g]:
   key_at[g + 1]] (known[i]: the scorer had a weight for keys[i]), its counts n/high/psum/human,
   welcome[g] (a welcome service's), its sample xs[g] (None: none) and its id sets and labels cut
   likewise; ids lie in [0, names). A slot not live is a new key, seen first at `now`. */

enum { C_KEYS, C_KEY_AT, C_KNOWN, C_N, C_HIGH, C_HUMAN, C_WELCOME, C_IPS, C_IP_AT, C_NETS, C_NET_AT,
       C_AGENTS, C_AGENT_AT, C_LABEL_IDS, C_LABEL_COUNTS, C_LABEL_AT, N_COLUMNS };

typedef struct {
    int64_t *col[N_COLUMNS];
    Py_ssize_t len[N_COLUMNS];
    double *psum;
    Py_ssize_t psum_len;
} batch_t;

static void batch_free(batch_t *in) {
    for (int c = 0; c < N_COLUMNS; c++) PyMem_Free(in->col[c]);
    PyMem_Free(in->psum);
}

/* One key's groups summed (SignatureBook._merged) or its one group, as the fold reads them. */
typedef struct {
    int64_t n, high, human, welcome;
    double psum;
    idset ips, nets, agents;
    labels_t labels;
    PyObject *x;
} acc_t;

static void acc_free(acc_t *a) {
    idset_free(&a->ips);
    idset_free(&a->nets);
    idset_free(&a->agents);
    labels_free(&a->labels);
}

static int32_t *ids32(const int64_t *flat, Py_ssize_t from, Py_ssize_t to, int32_t *scratch) {
    for (Py_ssize_t i = from; i < to; i++) scratch[i - from] = (int32_t)flat[i];
    return scratch;
}

/* acc = the groups of one key in order (`groups`, `count` of them), with the twin's caps: sets
   only while the key's own sets still take more, ips/nets only while acc's ips are below max_ips,
   agents while acc's agents are below 8. */
static int merge(Book *b, Py_ssize_t s, const batch_t *in, PyObject *xs, const int64_t *groups, Py_ssize_t count,
                 acc_t *acc, int32_t *scratch) {
    memset(acc, 0, sizeof(*acc));
    int sets = b->ips[s].n < b->max_ips || b->nets[s].n < NETS_CAP;
    int agents = b->agents[s].n < AGENTS_CAP;
    for (Py_ssize_t k = 0; k < count; k++) {
        int64_t g = groups[k];
        acc->n += in->col[C_N][g];
        acc->high += in->col[C_HIGH][g];
        acc->human += in->col[C_HUMAN][g];
        if (in->col[C_WELCOME][g]) acc->welcome += in->col[C_N][g];
        acc->psum = k ? acc->psum + in->psum[g] : in->psum[g];
        const int64_t *at;
        if (k == 0 || (sets && acc->ips.n < b->max_ips)) {
            at = in->col[C_IP_AT];
            if (idset_add_all(&acc->ips, ids32(in->col[C_IPS], at[g], at[g + 1], scratch), at[g + 1] - at[g]) < 0)
                return -1;
            at = in->col[C_NET_AT];
            if (idset_add_all(&acc->nets, ids32(in->col[C_NETS], at[g], at[g + 1], scratch), at[g + 1] - at[g]) < 0)
                return -1;
        }
        if (k == 0 || (agents && acc->agents.n < AGENTS_CAP)) {
            at = in->col[C_AGENT_AT];
            if (idset_add_all(&acc->agents, ids32(in->col[C_AGENTS], at[g], at[g + 1], scratch), at[g + 1] - at[g]) < 0)
                return -1;
        }
        at = in->col[C_LABEL_AT];
        for (int64_t i = at[g]; i < at[g + 1]; i++)
            if (labels_add(&acc->labels, (int32_t)in->col[C_LABEL_IDS][i], in->col[C_LABEL_COUNTS][i]) < 0) return -1;
        acc->x = PySequence_Fast_GET_ITEM(xs, g);
    }
    return 0;
}

/* SignatureBook._fold of `acc` into slot s (and its welcome count). */
static int fold_one(Book *b, Py_ssize_t s, const acc_t *acc, double now, int scored_with_key) {
    if (scored_with_key) {
        double decay = pow(b->decay, (double)acc->n);
        b->recent_n[s] = b->recent_n[s] * decay + (double)acc->n;
        b->recent_high[s] = b->recent_high[s] * decay + (double)acc->high;
        b->recent_p[s] = b->recent_p[s] * decay + acc->psum;
    }
    b->requests[s] += acc->n;
    b->last_seen[s] = now;
    if (b->ips[s].n < b->max_ips && idset_add_all(&b->ips[s], acc->ips.v, acc->ips.n) < 0) return -1;
    if (b->nets[s].n < NETS_CAP && idset_add_all(&b->nets[s], acc->nets.v, acc->nets.n) < 0) return -1;
    for (int32_t i = 0; i < acc->labels.n; i++) {
        if (acc->labels.id[i] == b->verified_id) b->verified[s] += acc->labels.count[i];
        if (labels_add(&b->labels[s], acc->labels.id[i], acc->labels.count[i]) < 0) return -1;
    }
    b->human[s] += acc->human;
    if (b->agents[s].n < AGENTS_CAP && idset_add_all(&b->agents[s], acc->agents.v, acc->agents.n) < 0) return -1;
    if (acc->x != Py_None && b->samples) {
        PyObject **ring = b->ring + s * b->samples;
        int32_t at = (b->ring_head[s] + b->ring_n[s]) % (int32_t)b->samples;
        if (b->ring_n[s] == b->samples) { /* full: the oldest goes (deque maxlen) */
            Py_SETREF(ring[b->ring_head[s]], Py_NewRef(acc->x));
            b->ring_head[s] = (b->ring_head[s] + 1) % (int32_t)b->samples;
        } else {
            ring[at] = Py_NewRef(acc->x);
            b->ring_n[s]++;
        }
    }
    b->welcome[s] += acc->welcome;
    return 0;
}

/* signatures.wilson_lower, in its operation order (Python's min/max kept as written). */
static double wilson_lower(double successes, double n) {
    const double z = 1.96;
    if (n <= 0) return 0.0;
    double p = successes / n;
    if (0.0 > p) p = 0.0;
    if (1.0 < p) p = 1.0;
    double z2 = z * z;
    double centre = p + z2 / (2 * n);
    double spread = z * sqrt(p * (1 - p) / n + z2 / (4 * n * n));
    double lower = (centre - spread) / (1 + z2 / n);
    return lower > 0.0 ? lower : 0.0;
}

/* Whether slot s, not yet proposed, passes the scalar bars of SignatureBook.qualifies (support
   with the lesser of the two ips bars, single net, no verified/welcome, human share, the bound;
   the bound with a hair of slack): a necessary condition, the door runs qualifies() itself. */
static int past_bars(const Book *b, Py_ssize_t s) {
    int64_t requests = b->requests[s];
    if (!isnan(b->proposed_at[s]) || requests < b->min_requests || b->ips[s].n < b->min_ips) return 0;
    if (b->nets[s].n <= 1 && requests < b->min_requests_single_net) return 0;
    if (b->verified[s] || b->welcome[s] || (double)b->human[s] > b->max_human_share * (double)requests) return 0;
    return wilson_lower(b->recent_high[s], b->recent_n[s]) >= b->lcb - 1e-9;
}

static int read_batch(Book *b, PyObject **cols, PyObject *psum, PyObject *xs, Py_ssize_t names, batch_t *in) {
    static const char *col_names[N_COLUMNS] = {"keys", "key_at", "known", "n", "high", "human", "welcome",
                                               "ips", "ip_at", "nets", "net_at", "agents", "agent_at",
                                               "label_ids", "label_counts", "label_at"};
    for (int c = 0; c < N_COLUMNS; c++) {
        int64_t lo = INT64_MIN / 4, hi = INT64_MAX / 4;
        if (c == C_KEYS) lo = 0, hi = b->cap;
        else if (c == C_IPS || c == C_NETS || c == C_AGENTS || c == C_LABEL_IDS) lo = 0, hi = names;
        else if (c == C_KNOWN || c == C_WELCOME) lo = 0, hi = 2;
        else if (c == C_N || c == C_HIGH || c == C_HUMAN || c == C_LABEL_COUNTS) lo = 0, hi = INT64_MAX / 4;
        in->col[c] = ints_of(cols[c], &in->len[c], lo, hi, col_names[c]);
        if (!in->col[c]) return -1;
    }
    in->psum = doubles_of(psum, &in->psum_len, "psum");
    if (!in->psum) return -1;
    Py_ssize_t groups = in->len[C_N];
    if (in->len[C_HIGH] != groups || in->len[C_HUMAN] != groups || in->len[C_WELCOME] != groups ||
        in->psum_len != groups || !is_seq(xs) || PySequence_Fast_GET_SIZE(xs) != groups ||
        in->len[C_KNOWN] != in->len[C_KEYS] || in->len[C_LABEL_COUNTS] != in->len[C_LABEL_IDS]) {
        PyErr_SetString(PyExc_ValueError, "_sigbook.fold: the group columns differ in length");
        return -1;
    }
    if (!offsets_ok(in->col[C_KEY_AT], in->len[C_KEY_AT], groups, in->len[C_KEYS], "key_at") ||
        !offsets_ok(in->col[C_IP_AT], in->len[C_IP_AT], groups, in->len[C_IPS], "ip_at") ||
        !offsets_ok(in->col[C_NET_AT], in->len[C_NET_AT], groups, in->len[C_NETS], "net_at") ||
        !offsets_ok(in->col[C_AGENT_AT], in->len[C_AGENT_AT], groups, in->len[C_AGENTS], "agent_at") ||
        !offsets_ok(in->col[C_LABEL_AT], in->len[C_LABEL_AT], groups, in->len[C_LABEL_IDS], "label_at"))
        return -1;
    return 0;
}

static PyObject *book_fold(Book *b, PyObject *args) {
    double now;
    Py_ssize_t names;
    PyObject *cols[N_COLUMNS], *psum, *xs;
    if (!PyArg_ParseTuple(args, "dnOOOOOOOOOOOOOOOOOO", &now, &names, &cols[C_KEYS], &cols[C_KEY_AT], &cols[C_KNOWN],
                          &cols[C_N], &cols[C_HIGH], &psum, &cols[C_HUMAN], &cols[C_WELCOME], &xs, &cols[C_IPS],
                          &cols[C_IP_AT], &cols[C_NETS], &cols[C_NET_AT], &cols[C_AGENTS], &cols[C_AGENT_AT],
                          &cols[C_LABEL_IDS], &cols[C_LABEL_COUNTS], &cols[C_LABEL_AT]))
        return NULL;
    if (names < 0 || names > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "_sigbook.fold: names outside [0, 2**31)");
        return NULL;
    }
    batch_t in;
    memset(&in, 0, sizeof(in));
    PyObject *fresh = NULL;
    int64_t *order = NULL, *first = NULL, *next = NULL, *occ_group = NULL, *groups = NULL;
    int32_t *scratch = NULL;
    Py_ssize_t n_keys = 0;
    if (read_batch(b, cols, psum, xs, names, &in) < 0) goto done;
    Py_ssize_t occ = in.len[C_KEYS], n_groups = in.len[C_N];
    Py_ssize_t widest = 1;
    for (int c = C_IPS; c <= C_AGENT_AT; c += 2)
        for (Py_ssize_t g = 0; g < n_groups; g++) {
            Py_ssize_t w = in.col[c + 1][g + 1] - in.col[c + 1][g];
            if (w > widest) widest = w;
        }
    order = PyMem_Malloc((size_t)(occ + 1) * sizeof(int64_t));
    first = PyMem_Malloc((size_t)(occ + 1) * sizeof(int64_t));
    next = PyMem_Malloc((size_t)(occ + 1) * sizeof(int64_t));
    occ_group = PyMem_Malloc((size_t)(occ + 1) * sizeof(int64_t));
    groups = PyMem_Malloc((size_t)(occ + 1) * sizeof(int64_t));
    scratch = PyMem_Malloc((size_t)widest * sizeof(int32_t));
    fresh = PyList_New(0);
    if (!order || !first || !next || !occ_group || !groups || !scratch || !fresh) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        Py_CLEAR(fresh);
        goto done;
    }
    /* the keys in first-seen order, each with its occurrences linked in group order */
    int64_t *last = groups; /* reused: the last occurrence of key k while linking */
    for (Py_ssize_t g = 0; g < n_groups; g++)
        for (int64_t i = in.col[C_KEY_AT][g]; i < in.col[C_KEY_AT][g + 1]; i++) {
            int64_t s = in.col[C_KEYS][i], k = b->batch_key[s];
            occ_group[i] = g;
            next[i] = -1;
            if (k < 0) {
                k = b->batch_key[s] = n_keys++;
                order[k] = i;
                first[k] = i;
            } else {
                next[last[k]] = i;
            }
            last[k] = i;
        }
    for (Py_ssize_t k = 0; k < n_keys; k++) b->batch_key[in.col[C_KEYS][order[k]]] = -1;
    for (Py_ssize_t k = 0; k < n_keys; k++) {
        int64_t i0 = first[k], s = in.col[C_KEYS][i0];
        Py_ssize_t count = 0;
        for (int64_t i = i0; i >= 0; i = next[i]) groups[count++] = occ_group[i];
        if (!b->live[s]) init_slot(b, s, now);
        acc_t acc;
        int failed = merge(b, s, &in, xs, groups, count, &acc, scratch) < 0 ||
                     fold_one(b, s, &acc, now, (int)in.col[C_KNOWN][i0]) < 0;
        acc_free(&acc);
        if (failed) {
            Py_CLEAR(fresh);
            goto done;
        }
        if (past_bars(b, s)) {
            PyObject *slot = PyLong_FromSsize_t((Py_ssize_t)s);
            if (!slot || PyList_Append(fresh, slot) < 0) {
                Py_XDECREF(slot);
                Py_CLEAR(fresh);
                goto done;
            }
            Py_DECREF(slot);
        }
    }
done:
    batch_free(&in);
    PyMem_Free(order);
    PyMem_Free(first);
    PyMem_Free(next);
    PyMem_Free(occ_group);
    PyMem_Free(groups);
    PyMem_Free(scratch);
    return fresh;
}

/* ---------------------------------------------------------------------------------------------
   Slots: reserve, propose, read, put, expire */

static int slot_arg(Book *b, Py_ssize_t s, int must_live) {
    if (s < 0 || s >= b->cap || (must_live && !b->live[s])) {
        PyErr_SetString(PyExc_ValueError, "_sigbook: a slot outside the book");
        return -1;
    }
    return 0;
}

static PyObject *book_reserve(Book *b, PyObject *args) {
    Py_ssize_t want;
    if (!PyArg_ParseTuple(args, "n", &want)) return NULL;
    if (want < 0 || want > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "_sigbook.reserve: a size outside [0, 2**31)");
        return NULL;
    }
    if (grow(b, want) < 0) return NULL;
    return PyLong_FromSsize_t(b->cap);
}

/* propose(slot, now): proposed_at = now, requests_to_candidate = its requests. */
static PyObject *book_propose(Book *b, PyObject *args) {
    Py_ssize_t s;
    double now;
    if (!PyArg_ParseTuple(args, "nd", &s, &now) || slot_arg(b, s, 1) < 0) return NULL;
    b->proposed_at[s] = now;
    b->to_candidate[s] = b->requests[s];
    Py_RETURN_NONE;
}

static PyObject *ids_list(const int32_t *ids, int32_t n) {
    PyObject *out = PyList_New(n);
    for (int32_t i = 0; out && i < n; i++) {
        PyObject *v = PyLong_FromLong(ids[i]);
        if (!v) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, i, v);
    }
    return out;
}

/* scalars(slot) -> (first_seen, last_seen, requests, recent_n, recent_high, recent_p, verified,
   human, proposed_at or None, requests_to_candidate or None, welcome, len(ips), len(nets)) */
static PyObject *book_scalars(Book *b, PyObject *args) {
    Py_ssize_t s;
    if (!PyArg_ParseTuple(args, "n", &s) || slot_arg(b, s, 1) < 0) return NULL;
    PyObject *proposed = isnan(b->proposed_at[s]) ? Py_NewRef(Py_None) : PyFloat_FromDouble(b->proposed_at[s]);
    PyObject *to_candidate = b->to_candidate[s] < 0 ? Py_NewRef(Py_None) : PyLong_FromLongLong(b->to_candidate[s]);
    if (!proposed || !to_candidate) {
        Py_XDECREF(proposed);
        Py_XDECREF(to_candidate);
        return NULL;
    }
    return Py_BuildValue("ddLdddLLNNLii", b->first_seen[s], b->last_seen[s], (long long)b->requests[s],
                         b->recent_n[s], b->recent_high[s], b->recent_p[s], (long long)b->verified[s],
                         (long long)b->human[s], proposed, to_candidate, (long long)b->welcome[s], b->ips[s].n,
                         b->nets[s].n);
}

/* sets(slot) -> (ips, nets, agents, label ids, label counts, samples oldest first) */
static PyObject *book_sets(Book *b, PyObject *args) {
    Py_ssize_t s;
    if (!PyArg_ParseTuple(args, "n", &s) || slot_arg(b, s, 1) < 0) return NULL;
    const labels_t *l = &b->labels[s];
    PyObject *counts = PyList_New(l->n), *samples = PyList_New(b->ring_n[s]);
    for (int32_t i = 0; counts && i < l->n; i++) PyList_SET_ITEM(counts, i, PyLong_FromLongLong(l->count[i]));
    for (int32_t i = 0; samples && i < b->ring_n[s]; i++)
        PyList_SET_ITEM(samples, i, Py_NewRef(b->ring[s * b->samples + (b->ring_head[s] + i) % b->samples]));
    if (!counts || !samples) {
        Py_XDECREF(counts);
        Py_XDECREF(samples);
        return NULL;
    }
    return Py_BuildValue("NNNNNN", ids_list(b->ips[s].v, b->ips[s].n), ids_list(b->nets[s].v, b->nets[s].n),
                         ids_list(b->agents[s].v, b->agents[s].n), ids_list(l->id, l->n), counts, samples);
}

/* put(slot, names, (first_seen, last_seen, requests, recent_n, recent_high, recent_p, verified, human,
   proposed_at or nan, requests_to_candidate or -1, welcome), ips, nets, agents, label_ids, label_counts,
   samples): a loaded key's statistics (SignatureBook.load_arrays). */
static PyObject *book_put(Book *b, PyObject *args) {
    Py_ssize_t s, names;
    double f[6];
    long long i[5];
    PyObject *lists[5], *samples;
    if (!PyArg_ParseTuple(args, "nn(ddLdddLLdLL)OOOOOO", &s, &names, &f[0], &f[1], &i[0], &f[2], &f[3], &f[4], &i[1],
                          &i[2], &f[5], &i[3], &i[4], &lists[0], &lists[1], &lists[2], &lists[3], &lists[4], &samples) ||
        slot_arg(b, s, 0) < 0)
        return NULL;
    if (names < 0 || names > INT32_MAX || !PyList_Check(samples)) {
        PyErr_SetString(PyExc_ValueError, "_sigbook.put: bad names or samples");
        return NULL;
    }
    int64_t *cols[5] = {NULL};
    Py_ssize_t lens[5];
    static const char *what[5] = {"ips", "nets", "agents", "label_ids", "label_counts"};
    PyObject *result = NULL;
    for (int c = 0; c < 5; c++) {
        cols[c] = ints_of(lists[c], &lens[c], 0, c == 4 ? INT64_MAX / 4 : names, what[c]);
        if (!cols[c]) goto done;
    }
    if (lens[3] != lens[4]) {
        PyErr_SetString(PyExc_ValueError, "_sigbook.put: label ids and counts differ in length");
        goto done;
    }
    clear_slot(b, s);
    init_slot(b, s, f[0]);
    b->last_seen[s] = f[1];
    b->recent_n[s] = f[2];
    b->recent_high[s] = f[3];
    b->recent_p[s] = f[4];
    b->proposed_at[s] = f[5];
    b->requests[s] = i[0];
    b->verified[s] = i[1];
    b->human[s] = i[2];
    b->to_candidate[s] = i[3] < 0 ? -1 : i[3];
    b->welcome[s] = i[4];
    idset *sets[3] = {&b->ips[s], &b->nets[s], &b->agents[s]};
    for (int c = 0; c < 3; c++)
        for (Py_ssize_t k = 0; k < lens[c]; k++)
            if (idset_add(sets[c], (int32_t)cols[c][k]) < 0) goto done;
    for (Py_ssize_t k = 0; k < lens[3]; k++)
        if (labels_add(&b->labels[s], (int32_t)cols[3][k], cols[4][k]) < 0) goto done;
    Py_ssize_t count = PyList_GET_SIZE(samples), skip = count > b->samples ? count - b->samples : 0;
    for (Py_ssize_t k = skip; k < count; k++) b->ring[s * b->samples + (k - skip)] = Py_NewRef(PyList_GET_ITEM(samples, k));
    b->ring_n[s] = (int32_t)(count - skip);
    result = Py_NewRef(Py_None);
done:
    for (int c = 0; c < 5; c++) PyMem_Free(cols[c]);
    return result;
}

/* expire(horizon) -> (slots dropped (last_seen < horizon), the least last_seen left or inf) */
static PyObject *book_expire(Book *b, PyObject *args) {
    double horizon;
    if (!PyArg_ParseTuple(args, "d", &horizon)) return NULL;
    PyObject *dropped = PyList_New(0);
    if (!dropped) return NULL;
    double oldest = INFINITY;
    for (Py_ssize_t s = 0; s < b->cap; s++) {
        if (!b->live[s]) continue;
        if (b->last_seen[s] < horizon) {
            PyObject *slot = PyLong_FromSsize_t(s);
            if (!slot || PyList_Append(dropped, slot) < 0) {
                Py_XDECREF(slot);
                Py_DECREF(dropped);
                return NULL;
            }
            Py_DECREF(slot);
            clear_slot(b, s);
        } else if (b->last_seen[s] < oldest) {
            oldest = b->last_seen[s];
        }
    }
    return Py_BuildValue("Nd", dropped, oldest);
}

/* drop(slot): forget one key (the door's rollback of keys a failed fold named). */
static PyObject *book_drop(Book *b, PyObject *args) {
    Py_ssize_t s;
    if (!PyArg_ParseTuple(args, "n", &s) || slot_arg(b, s, 0) < 0) return NULL;
    clear_slot(b, s);
    Py_RETURN_NONE;
}

/* names_used(names) -> bytearray: 1 where a live key's set or label holds the id. */
static PyObject *book_names_used(Book *b, PyObject *args) {
    Py_ssize_t names;
    if (!PyArg_ParseTuple(args, "n", &names)) return NULL;
    if (names < 0 || names > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "_sigbook.names_used: names outside [0, 2**31)");
        return NULL;
    }
    PyObject *out = PyByteArray_FromStringAndSize(NULL, names);
    if (!out) return NULL;
    char *used = PyByteArray_AS_STRING(out);
    memset(used, 0, (size_t)names);
    for (Py_ssize_t s = 0; s < b->cap; s++) {
        if (!b->live[s]) continue;
        idset *sets[3] = {&b->ips[s], &b->nets[s], &b->agents[s]};
        for (int c = 0; c < 3; c++)
            for (int32_t k = 0; k < sets[c]->n; k++)
                if (sets[c]->v[k] < names) used[sets[c]->v[k]] = 1;
        for (int32_t k = 0; k < b->labels[s].n; k++)
            if (b->labels[s].id[k] < names) used[b->labels[s].id[k]] = 1;
    }
    return out;
}

/* renumber(new_of): every id in the live sets and labels becomes new_of[id] (the door compacted
   its names); an id outside new_of or mapped below 0 raises ValueError before any change. */
static PyObject *book_renumber(Book *b, PyObject *args) {
    PyObject *list;
    if (!PyArg_ParseTuple(args, "O", &list)) return NULL;
    Py_ssize_t n;
    int64_t *new_of = ints_of(list, &n, -1, INT32_MAX, "new_of");
    if (!new_of) return NULL;
    for (int pass = 0; pass < 2; pass++)
        for (Py_ssize_t s = 0; s < b->cap; s++) {
            if (!b->live[s]) continue;
            idset *sets[3] = {&b->ips[s], &b->nets[s], &b->agents[s]};
            int32_t *lists[4] = {sets[0]->v, sets[1]->v, sets[2]->v, b->labels[s].id};
            int32_t lens[4] = {sets[0]->n, sets[1]->n, sets[2]->n, b->labels[s].n};
            for (int c = 0; c < 4; c++)
                for (int32_t k = 0; k < lens[c]; k++) {
                    int32_t id = lists[c][k];
                    if (pass == 0 && (id >= n || new_of[id] < 0)) {
                        PyMem_Free(new_of);
                        PyErr_SetString(PyExc_ValueError, "_sigbook.renumber: a live id has no new number");
                        return NULL;
                    }
                    if (pass == 1) lists[c][k] = (int32_t)new_of[id];
                }
        }
    PyMem_Free(new_of);
    Py_RETURN_NONE;
}

static PyObject *book_set_verified(Book *b, PyObject *args) {
    long long id;
    if (!PyArg_ParseTuple(args, "L", &id)) return NULL;
    if (id < 0 || id > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "_sigbook.set_verified: an id outside [0, 2**31)");
        return NULL;
    }
    b->verified_id = id;
    Py_RETURN_NONE;
}

static int book_traverse(Book *b, visitproc visit, void *arg) {
    if (b->ring)
        for (Py_ssize_t i = 0; i < b->cap * b->samples; i++) Py_VISIT(b->ring[i]);
    return 0;
}

static int book_clear(Book *b) {
    if (b->ring)
        for (Py_ssize_t i = 0; i < b->cap * b->samples; i++) Py_CLEAR(b->ring[i]);
    return 0;
}

static PyMethodDef book_methods[] = {
    {"fold", (PyCFunction)book_fold, METH_VARARGS, "fold(...): one micro-batch; see the module comment."},
    {"reserve", (PyCFunction)book_reserve, METH_VARARGS, "reserve(n): room for n slots; returns the capacity."},
    {"propose", (PyCFunction)book_propose, METH_VARARGS, "propose(slot, now)"},
    {"scalars", (PyCFunction)book_scalars, METH_VARARGS, "scalars(slot): the key's scalar statistics."},
    {"sets", (PyCFunction)book_sets, METH_VARARGS, "sets(slot): the key's id sets, labels and samples."},
    {"put", (PyCFunction)book_put, METH_VARARGS, "put(slot, names, scalars, ...): a loaded key."},
    {"expire", (PyCFunction)book_expire, METH_VARARGS, "expire(horizon) -> (dropped slots, oldest left)."},
    {"drop", (PyCFunction)book_drop, METH_VARARGS, "drop(slot)"},
    {"names_used", (PyCFunction)book_names_used, METH_VARARGS, "names_used(names) -> bytearray."},
    {"renumber", (PyCFunction)book_renumber, METH_VARARGS, "renumber(new_of)"},
    {"set_verified", (PyCFunction)book_set_verified, METH_VARARGS, "set_verified(id)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BookType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "botguard.model._sigbook.Book",
    .tp_basicsize = sizeof(Book),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A signature book's statistics, one slot per key (see botguard.model.signature_arrays).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)book_init,
    .tp_dealloc = (destructor)book_dealloc,
    .tp_traverse = (traverseproc)book_traverse,
    .tp_clear = (inquiry)book_clear,
    .tp_methods = book_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sigbook", "The signature book's statistics kernel.",
                                   -1, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__sigbook(void) {
    if (PyType_Ready(&BookType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "Book", (PyObject *)&BookType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
