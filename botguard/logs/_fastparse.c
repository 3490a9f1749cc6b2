/*
 * botguard.logs._fastparse: a one-pass reader of the built-in quote-delimited templates
 * (common, combined, vhost_combined) that writes the typed REQUEST_SCHEMA columns itself.
 *
 * Why: the polars path splits a block on quotes and types the pieces with ~60 expressions
 * (3.35 CPU-s per million lines, 2 s of it the typing query). A line nginx or Apache wrote
 * is read here once, with the GIL released, into Arrow buffers that polars imports without
 * a copy (Arrow C data interface, PyCapsules "arrow_schema" / "arrow_array").
 *
 * It is a fast path, not a second parser: it takes only lines it is certain about (printable
 * ASCII; IPv4 or IPv6 as botguard.addresses.canonical_address spells it; a real
 * "dd/Mon/yyyy:HH:MM:SS +hhmm" time; "METHOD /target HTTP/d.d" or a request that is never
 * HTTP; status 100-999; bytes digits or "-"; quoted values without a quote or a backslash
 * before their closing quote; appended fields after a space) and hands every other line back,
 * by number, to the polars path, which stays the oracle and must give the same columns for
 * the lines taken here (tests/logs/test_fastparse.py).
 *
 * Memory safety: every read is bounded by the block's length (a line is [start, end) with
 * end <= length, and every cursor is checked against end before it is read), every write by
 * sizes computed in a first pass with overflow checks, and each Arrow struct's release
 * callback frees what it owns on every path. The column buffers of a block are one pooled set
 * (see "buffer pool"): a set is written again only after the last array reading it was
 * released (tests/logs/test_fastparse_pool.py holds earlier frames while later blocks reuse
 * sets).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_arrow_c.h"

/* Lines longer than this go to the polars path (which rejects those over 64 KiB as too_long). */
#define MAX_LINE 16384
#define MAX_METHOD 32

enum layout { LAYOUT_COMMON = 0, LAYOUT_COMBINED = 1, LAYOUT_VHOST_COMBINED = 2 };

/* One accepted line: spans into the block and the typed values. */
typedef struct {
    size_t ip_off, ip_len;
    size_t req_off, req_len, method_len, target_len;
    size_t ref_off, ref_len, ua_off, ua_len;
    size_t host_off, host_len;
    int64_t time_us;
    int64_t bytes;
    int64_t line_no;
    int16_t status;
    char host_null;
    char valid; /* the request line is HTTP (else kept raw, method/target/protocol null) */
} Row;

typedef struct {
    size_t start, end; /* the line's bytes, its newline (if any) included */
    int64_t line_no;
} Reject;

/* ------------------------------------------------------------------ field readers --- */

/* Bytes a quoted value may hold here: printable ASCII but the quote. A backslash is taken as
 * the polars path takes it (kept raw) unless it ends the value, where the closing quote would
 * read as escaped (see quoted()). */
static inline int plain(unsigned char c) { return c >= 0x20 && c <= 0x7e && c != '"'; }

/* A token of an unquoted field: printable ASCII, no space, quote or backslash. */
static inline int token(unsigned char c) { return c > 0x20 && c <= 0x7e && c != '"' && c != '\\'; }

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* IPv4 in its one spelling (botguard.addresses.IPV4_RE): 4 octets 0-255, no leading zero. */
static int canonical_ipv4(const unsigned char *s, size_t n) {
    size_t i = 0;
    for (int octet = 0; octet < 4; octet++) {
        if (octet) {
            if (i >= n || s[i] != '.') return 0;
            i++;
        }
        size_t start = i;
        unsigned value = 0;
        while (i < n && is_digit(s[i]) && i - start < 3) value = value * 10 + (unsigned)(s[i++] - '0');
        size_t len = i - start;
        if (len == 0 || value > 255 || (len > 1 && s[start] == '0')) return 0;
    }
    return i == n;
}

/* IPv6 as canonical_address leaves it: what inet_ntop spells back byte for byte, lower-case
 * hex, no zone id, neither IPv4-mapped nor IPv4-compatible (those are spelled otherwise). */
static int canonical_ipv6(const unsigned char *s, size_t n) {
    static const unsigned char zeros[12] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char text[48], back[INET6_ADDRSTRLEN];
    unsigned char packed[16];
    if (n < 2 || n > 39) return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f') && s[i] != ':') return 0;
    memcpy(text, s, n);
    text[n] = 0;
    if (inet_pton(AF_INET6, text, packed) != 1) return 0;
    if (memcmp(packed, zeros, 12) == 0 || memcmp(packed, mapped, 12) == 0) return 0;
    if (!inet_ntop(AF_INET6, packed, back, sizeof back)) return 0;
    return strlen(back) == n && memcmp(back, s, n) == 0;
}

static int two_digits(const unsigned char *s, int *out) {
    if (!is_digit(s[0]) || !is_digit(s[1])) return 0;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return 1;
}

static int leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "dd/Mon/yyyy:HH:MM:SS +hhmm" (exactly 26 bytes) as epoch microseconds UTC; 0 if not a real
 * time. Years 1000-9999 only (and not past 9999 in UTC), seconds 00-59 (no leap second),
 * offsets up to 23:59. */
static int time_local(const unsigned char *s, int64_t *out) {
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int day, month = 0, hi, lo, hour, minute, second, oh, om;
    if (s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' || s[20] != ' ')
        return 0;
    if (!two_digits(s, &day)) return 0;
    for (int m = 0; m < 12; m++)
        if (memcmp(s + 3, months + 3 * m, 3) == 0) month = m + 1;
    if (!month || !two_digits(s + 7, &hi) || !two_digits(s + 9, &lo)) return 0;
    int year = hi * 100 + lo;
    if (year < 1000) return 0;
    if (!two_digits(s + 12, &hour) || !two_digits(s + 15, &minute) || !two_digits(s + 18, &second))
        return 0;
    if (s[21] != '+' && s[21] != '-') return 0;
    if (!two_digits(s + 22, &oh) || !two_digits(s + 24, &om)) return 0;
    int last = month_days[month - 1] + (month == 2 && leap(year));
    if (day < 1 || day > last || hour > 23 || minute > 59 || second > 59 || oh > 23 || om > 59) return 0;
    int64_t offset = (int64_t)(oh * 3600 + om * 60) * (s[21] == '-' ? -1 : 1);
    int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    /* Past 9999-12-31T23:59:59.999999Z (a late time with a negative offset) Python cannot hold
     * it: the polars path calls it a bad timestamp (_columns.parse_time), so hand it back. */
    if (seconds - offset > INT64_C(253402300799)) return 0;
    *out = (seconds - offset) * 1000000;
    return 1;
}

/* "METHOD /target HTTP/d.d" (or HTTP/d): 1, what _columns.request_validity calls valid, in
 * the one shape of origin form; sets the method's and the target's lengths. 2 for a request
 * that is never HTTP, kept raw: one word or none ("", "SSH-2.0-Go", "-": no target), or a
 * first word that is no method (a TLS handshake as nginx escapes it, "\x16\x03..."). */
static int request_line(const unsigned char *s, size_t n, size_t *method_len, size_t *target_len) {
    size_t i = 0;
    *method_len = *target_len = 0;
    if (memchr(s, ' ', n) == NULL || s[0] < 'A' || s[0] > 'Z') return 2;
    while (i < n && ((s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' || s[i] == '-')) i++;
    if (i >= n || s[i] != ' ') return 2; /* (a space follows somewhere: i < n) */
    if (i > MAX_METHOD) return 2;
    *method_len = i++;
    size_t target = i;
    if (i >= n || s[i] != '/') return 0;
    while (i < n && token(s[i])) i++;
    if (i >= n || s[i] != ' ') return 0;
    *target_len = i - target;
    i++;
    size_t rest = n - i;
    if (rest != 6 && rest != 8) return 0;
    if (memcmp(s + i, "HTTP/", 5) != 0 || !is_digit(s[i + 5])) return 0;
    return rest == 6 || (s[i + 6] == '.' && is_digit(s[i + 7]));
}

/* Eight bytes at a time: whether any of them is not ``plain`` (SWAR tests that are exact for
 * "any byte below n" with n <= 128: below 0x20, above 0x7e, a quote). */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
static inline int word_plain(const unsigned char *s) {
    uint64_t x;
    memcpy(&x, s, 8);
    uint64_t control = (x - ONES * 0x20) & ~x & HIGHS;
    uint64_t high = ((x + ONES * 1) | x) & HIGHS; /* 0x7f and above */
    uint64_t quote = x ^ (ONES * '"');
    uint64_t quotes = (quote - ONES) & ~quote & HIGHS;
    return !(control | high | quotes);
}

/* The end of a run of ``plain`` bytes from ``i`` (bounded by ``end``). */
static inline size_t plain_run(const unsigned char *s, size_t i, size_t end) {
    while (end - i >= 8 && word_plain(s + i)) i += 8;
    while (i < end && plain(s[i])) i++;
    return i;
}

/* A quoted value starting at *pos (after its opening quote): up to the closing quote. */
static int quoted(const unsigned char *s, size_t end, size_t *pos, size_t *len) {
    size_t i = plain_run(s, *pos, end);
    if (i >= end || s[i] != '"' || (i > *pos && s[i - 1] == '\\')) return 0;
    *len = i - *pos;
    *pos = i + 1;
    return 1;
}

static int literal(const unsigned char *s, size_t end, size_t *pos, const char *text) {
    size_t n = strlen(text);
    if (end - *pos < n || memcmp(s + *pos, text, n) != 0) return 0;
    *pos += n;
    return 1;
}

/* An unquoted token ending at a space (consumed); its span in *start, *len. */
static int word(const unsigned char *s, size_t end, size_t *pos, size_t *start, size_t *len) {
    size_t i = *pos;
    while (i < end && token(s[i])) i++;
    if (i == *pos || i >= end || s[i] != ' ') return 0;
    *start = *pos;
    *len = i - *pos;
    *pos = i + 1;
    return 1;
}

/* $host as normalize_host leaves it: [A-Za-z0-9._-]+ with an optional ":digits" port (dropped);
 * lower-cased on copy; "-" (or empty before the port) is null. */
static int vhost(const unsigned char *s, size_t n, Row *row) {
    size_t i = 0;
    while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || is_digit(s[i]) ||
                     s[i] == '.' || s[i] == '_' || s[i] == '-'))
        i++;
    size_t name = i;
    if (i < n) {
        if (s[i] != ':') return 0;
        for (i++; i < n; i++)
            if (!is_digit(s[i])) return 0;
    }
    row->host_len = name;
    row->host_null = name == 0 || (name == 1 && s[0] == '-');
    return 1;
}

/* What may follow the template: nothing, or a space and printable ASCII (fields nginx's "main"
 * format and others append, e.g. "$http_x_forwarded_for"), which every path ignores. */
static int tail(const unsigned char *s, size_t pos, size_t end) {
    if (pos == end) return 1;
    if (s[pos] != ' ') return 0;
    for (pos++; pos < end; pos++)
        if (s[pos] < 0x20 || s[pos] > 0x7e) return 0;
    return 1;
}

/* One line [start, end) without its newline; 1 and *row filled when it is taken here. */
static int parse_line(const unsigned char *s, size_t start, size_t end, int layout, Row *row) {
    size_t pos = start, skip, len;
    if (end - start > MAX_LINE) return 0;
    if (layout == LAYOUT_VHOST_COMBINED) {
        if (!word(s, end, &pos, &row->host_off, &row->host_len)) return 0;
        if (!vhost(s + row->host_off, row->host_len, row)) return 0;
    } else {
        row->host_off = row->host_len = 0;
        row->host_null = 1;
    }
    if (!word(s, end, &pos, &row->ip_off, &row->ip_len)) return 0;
    if (!canonical_ipv4(s + row->ip_off, row->ip_len) && !canonical_ipv6(s + row->ip_off, row->ip_len)) return 0;
    if (!word(s, end, &pos, &skip, &len) || !word(s, end, &pos, &skip, &len)) return 0; /* ident, user */
    if (!literal(s, end, &pos, "[") || end - pos < 26 || !time_local(s + pos, &row->time_us)) return 0;
    pos += 26;
    if (!literal(s, end, &pos, "] \"")) return 0;
    row->req_off = pos;
    if (!quoted(s, end, &pos, &row->req_len)) return 0;
    int request = request_line(s + row->req_off, row->req_len, &row->method_len, &row->target_len);
    if (!request) return 0;
    row->valid = request == 1;
    if (!literal(s, end, &pos, " ") || end - pos < 4 || !is_digit(s[pos]) || s[pos] == '0' ||
        !is_digit(s[pos + 1]) || !is_digit(s[pos + 2]) || s[pos + 3] != ' ')
        return 0;
    row->status = (int16_t)((s[pos] - '0') * 100 + (s[pos + 1] - '0') * 10 + (s[pos + 2] - '0'));
    pos += 4;
    if (pos < end && s[pos] == '-') {
        row->bytes = 0;
        pos++;
    } else {
        size_t first = pos;
        int64_t value = 0;
        while (pos < end && is_digit(s[pos]) && pos - first < 18) value = value * 10 + (s[pos++] - '0');
        if (pos == first || (pos < end && is_digit(s[pos]))) return 0;
        row->bytes = value;
    }
    if (layout == LAYOUT_COMMON) {
        row->ref_off = row->ref_len = row->ua_off = row->ua_len = 0;
        return tail(s, pos, end);
    }
    if (!literal(s, end, &pos, " \"")) return 0;
    row->ref_off = pos;
    if (!quoted(s, end, &pos, &row->ref_len)) return 0;
    if (!literal(s, end, &pos, " \"")) return 0;
    row->ua_off = pos;
    if (!quoted(s, end, &pos, &row->ua_len)) return 0;
    if (row->ref_len == 1 && s[row->ref_off] == '-') row->ref_len = 0; /* "-": sent none */
    if (row->ua_len == 1 && s[row->ua_off] == '-') row->ua_len = 0;
    return tail(s, pos, end);
}

/* ------------------------------------------------------------------ Arrow export --- */

/* ------------------------------------------------------------------ buffer pool --- */

/* The buffers of one parse, one per slot: each text column's offsets, bytes and validity, the
 * number columns, and the rejected lines' table (scratch). Why a pool: buffers malloc'd fresh
 * for each 8 MiB block are fresh pages each time (glibc returns or trims large freed chunks),
 * and on this VM a page fault costs microseconds: at 5M lines the scan took 311k faults while
 * reading. A set goes back to the pool when the last array that reads it is released (polars
 * may release it on any thread, later), so steady-state parsing writes the same pages. */
enum text_column { TEXT_IP, TEXT_METHOD, TEXT_TARGET, TEXT_PROTOCOL, TEXT_REQUEST, TEXT_REFERER, TEXT_UA, TEXT_HOST,
                   TEXT_COLUMNS };
enum number_column { NUMBER_TIME, NUMBER_STATUS, NUMBER_BYTES, NUMBER_LINE, NUMBER_VALID };
#define TEXT_SLOT(column, part) ((column) * 3 + (part)) /* part: 0 offsets, 1 bytes, 2 validity */
#define NUMBER_SLOT(column) (TEXT_COLUMNS * 3 + (column))
#define REJECT_SLOT (TEXT_COLUMNS * 3 + 5)
#define SLOTS (REJECT_SLOT + 1)
/* Idle sets kept: a scan holds about two blocks' frames at once (the aggregator's batch and
 * the parse thread's); one more set waiting costs its touched pages, never more. */
#define POOL_IDLE_MAX 2

typedef struct Set {
    void *buffer[SLOTS];
    size_t capacity[SLOTS];
    atomic_long refs; /* the writer's, then one per child array that reads the set */
    struct Set *next; /* in the idle list */
} Set;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static Set *pool_idle;
static long pool_idle_count, pool_sets_made, pool_sets_reused, pool_buffers_grown, pool_sets_freed, pool_sets_out;

static void set_free(Set *set) {
    for (int i = 0; i < SLOTS; i++) free(set->buffer[i]);
    free(set);
}

/* Back to the pool (or freed when the pool is full): only once no array reads the set. */
static void set_release(Set *set) {
    if (atomic_fetch_sub(&set->refs, 1) != 1) return;
    pthread_mutex_lock(&pool_lock);
    pool_sets_out--;
    int keep = pool_idle_count < POOL_IDLE_MAX;
    if (keep) {
        set->next = pool_idle;
        pool_idle = set;
        pool_idle_count++;
    } else {
        pool_sets_freed++;
    }
    pthread_mutex_unlock(&pool_lock);
    if (!keep) set_free(set);
}

/* A set with room for ``needs`` bytes in each slot, referenced once (by the writer); NULL on
 * allocation failure. A slot too small grows to an eighth more than asked, so blocks of about
 * the same size grow it rarely; untouched pages of a big slot cost no memory. */
static Set *set_take(const size_t needs[SLOTS]) {
    pthread_mutex_lock(&pool_lock);
    Set *set = pool_idle;
    if (set) {
        pool_idle = set->next;
        pool_idle_count--;
        pool_sets_reused++;
    } else {
        pool_sets_made++;
    }
    pool_sets_out++;
    pthread_mutex_unlock(&pool_lock);
    if (!set && !(set = calloc(1, sizeof *set))) {
        pthread_mutex_lock(&pool_lock);
        pool_sets_out--;
        pthread_mutex_unlock(&pool_lock);
        return NULL;
    }
    set->next = NULL;
    atomic_store(&set->refs, 1);
    for (int i = 0; i < SLOTS; i++) {
        size_t need = needs[i] ? needs[i] : 1; /* Arrow wants a valid pointer for an empty buffer */
        if (set->capacity[i] >= need) continue;
        free(set->buffer[i]);
        size_t room = need > SIZE_MAX - need / 8 ? need : need + need / 8;
        set->buffer[i] = malloc(room);
        set->capacity[i] = set->buffer[i] ? room : 0;
        if (!set->buffer[i]) {
            set_release(set);
            return NULL;
        }
        pthread_mutex_lock(&pool_lock);
        pool_buffers_grown++;
        pthread_mutex_unlock(&pool_lock);
    }
    return set;
}

/* What a child array holds: the set its buffers are in, and the pointer table Arrow reads. */
typedef struct {
    Set *set;
    const void *table[3];
} Buffers;

static void release_child(struct ArrowArray *array) {
    Buffers *buffers = array->private_data;
    if (buffers) {
        set_release(buffers->set);
        free(buffers);
    }
    array->release = NULL;
}

static void release_struct_array(struct ArrowArray *array) {
    for (int64_t i = 0; i < array->n_children; i++) {
        struct ArrowArray *child = array->children[i];
        if (child) {
            if (child->release) child->release(child);
            free(child);
        }
    }
    free(array->children);
    free((void *)array->buffers);
    array->release = NULL;
}

static void release_schema(struct ArrowSchema *schema) {
    for (int64_t i = 0; i < schema->n_children; i++) {
        struct ArrowSchema *child = schema->children[i];
        if (child) {
            if (child->release) child->release(child);
            free(child);
        }
    }
    free(schema->children);
    schema->release = NULL;
}

static void release_leaf_schema(struct ArrowSchema *schema) { schema->release = NULL; }

/* A child array over ``n_buffers`` buffers of ``set`` (which it then references). */
static struct ArrowArray *child_array(Set *set, int64_t length, int64_t null_count, int n_buffers, void *b0, void *b1,
                                      void *b2) {
    struct ArrowArray *array = calloc(1, sizeof *array);
    Buffers *buffers = calloc(1, sizeof *buffers);
    if (!array || !buffers) {
        free(array);
        free(buffers);
        return NULL;
    }
    atomic_fetch_add(&set->refs, 1);
    buffers->set = set;
    buffers->table[0] = b0;
    buffers->table[1] = b1;
    buffers->table[2] = b2;
    array->length = length;
    array->null_count = null_count;
    array->n_buffers = n_buffers;
    array->buffers = buffers->table;
    array->release = release_child;
    array->private_data = buffers;
    return array;
}

/* A large_utf8 column being written. Each accepted line gives it at most one span of its own
 * bytes, so ``chars`` never needs more than the block's size. */
typedef struct {
    int64_t *offsets; /* rows + 1 */
    char *chars;
    uint8_t *valid; /* validity bitmap, for the columns that may hold nulls */
    size_t at;
    int64_t nulls;
} Text;

/* The columns being written, one row per accepted line, in the buffers of ``set``. */
typedef struct {
    Text text[TEXT_COLUMNS];
    int64_t *time, *bytes, *line_no;
    int16_t *status;
    uint8_t *valid_request;
    size_t rows;
    Set *set;
} Out;

static void out_free(Out *out) {
    if (out->set) set_release(out->set);
    memset(out, 0, sizeof *out);
}

static int nullable(int column) {
    return column == TEXT_METHOD || column == TEXT_TARGET || column == TEXT_PROTOCOL || column == TEXT_HOST;
}

/* Room for ``lines`` rows of a block of ``size`` bytes, and for the table of ``lines``
 * rejected lines (*rejects); 0 on allocation failure. Each text column gets the block's size:
 * a row copies at most its own bytes into it. */
static int out_init(Out *out, size_t lines, size_t size, Reject **rejects) {
    size_t bitmap = (lines + 7) / 8, needs[SLOTS] = {0};
    memset(out, 0, sizeof *out);
    if (lines > (SIZE_MAX - 1) / sizeof(Reject)) return 0;
    for (int i = 0; i < TEXT_COLUMNS; i++) {
        needs[TEXT_SLOT(i, 0)] = (lines + 1) * sizeof(int64_t);
        needs[TEXT_SLOT(i, 1)] = size;
        needs[TEXT_SLOT(i, 2)] = nullable(i) ? bitmap : 0;
    }
    needs[NUMBER_SLOT(NUMBER_TIME)] = needs[NUMBER_SLOT(NUMBER_BYTES)] = lines * sizeof(int64_t);
    needs[NUMBER_SLOT(NUMBER_LINE)] = lines * sizeof(int64_t);
    needs[NUMBER_SLOT(NUMBER_STATUS)] = lines * sizeof(int16_t);
    needs[NUMBER_SLOT(NUMBER_VALID)] = bitmap;
    needs[REJECT_SLOT] = lines * sizeof(Reject);
    Set *set = out->set = set_take(needs);
    if (!set) return 0;
    for (int i = 0; i < TEXT_COLUMNS; i++) {
        Text *t = &out->text[i];
        t->offsets = set->buffer[TEXT_SLOT(i, 0)];
        t->chars = set->buffer[TEXT_SLOT(i, 1)];
        t->valid = nullable(i) ? set->buffer[TEXT_SLOT(i, 2)] : NULL;
        if (t->valid) memset(t->valid, 0, bitmap); /* (a reused set holds an earlier block's bits) */
        t->offsets[0] = 0;
    }
    out->time = set->buffer[NUMBER_SLOT(NUMBER_TIME)];
    out->bytes = set->buffer[NUMBER_SLOT(NUMBER_BYTES)];
    out->line_no = set->buffer[NUMBER_SLOT(NUMBER_LINE)];
    out->status = set->buffer[NUMBER_SLOT(NUMBER_STATUS)];
    out->valid_request = set->buffer[NUMBER_SLOT(NUMBER_VALID)];
    memset(out->valid_request, 0, bitmap);
    *rejects = set->buffer[REJECT_SLOT];
    return 1;
}

static inline void put(Text *t, size_t row, const unsigned char *src, size_t len, int null) {
    if (null) {
        len = 0;
        t->nulls++;
    } else if (t->valid) {
        t->valid[row / 8] |= (uint8_t)(1u << (row % 8));
    }
    memcpy(t->chars + t->at, src, len);
    t->at += len;
    t->offsets[row + 1] = (int64_t)t->at;
}

/* Append an accepted line's row. */
static void out_add(Out *out, const unsigned char *s, const Row *row, int layout) {
    size_t i = out->rows++;
    const unsigned char *request = s + row->req_off;
    size_t method = row->method_len, target = row->target_len;
    put(&out->text[TEXT_IP], i, s + row->ip_off, row->ip_len, 0);
    put(&out->text[TEXT_METHOD], i, request, method, !row->valid);
    put(&out->text[TEXT_TARGET], i, request + method + 1, target, !row->valid);
    size_t protocol = row->valid ? row->req_len - method - target - 2 : 0; /* valid: both spaces in */
    put(&out->text[TEXT_PROTOCOL], i, request + method + target + (row->valid ? 2 : 0), protocol, !row->valid);
    put(&out->text[TEXT_REQUEST], i, request, row->req_len, 0);
    if (layout != LAYOUT_COMMON) {
        put(&out->text[TEXT_REFERER], i, s + row->ref_off, row->ref_len, 0);
        put(&out->text[TEXT_UA], i, s + row->ua_off, row->ua_len, 0);
    }
    if (layout == LAYOUT_VHOST_COMBINED) {
        Text *host = &out->text[TEXT_HOST];
        char *lower = host->chars + host->at;
        put(host, i, s + row->host_off, row->host_len, row->host_null);
        for (char *c = lower; c < host->chars + host->at; c++)
            if (*c >= 'A' && *c <= 'Z') *c = (char)(*c + 32);
    }
    out->time[i] = row->time_us;
    out->bytes[i] = row->bytes;
    out->line_no[i] = row->line_no;
    out->status[i] = row->status;
    if (row->valid) out->valid_request[i / 8] |= (uint8_t)(1u << (i % 8));
}

/* The columns of a layout: name, Arrow format, and which buffer holds them. */
typedef struct {
    const char *name;
    const char *format;
    int text; /* 1: a text_column, 0: a number_column */
    int column;
} Column;

static const Column COLUMNS[] = {
    {"ip", "U", 1, TEXT_IP},           {"time", "tsu:UTC", 0, NUMBER_TIME},
    {"method", "U", 1, TEXT_METHOD},   {"target", "U", 1, TEXT_TARGET},
    {"protocol", "U", 1, TEXT_PROTOCOL}, {"request", "U", 1, TEXT_REQUEST},
    {"status", "s", 0, NUMBER_STATUS}, {"bytes", "l", 0, NUMBER_BYTES},
    {"line_no", "l", 0, NUMBER_LINE},  {"valid_request", "b", 0, NUMBER_VALID},
    {"referer", "U", 1, TEXT_REFERER}, {"user_agent", "U", 1, TEXT_UA},
    {"host", "U", 1, TEXT_HOST},
};
#define BASE_COLUMNS 10

static int column_count(int layout) {
    return layout == LAYOUT_COMMON ? BASE_COLUMNS : layout == LAYOUT_COMBINED ? BASE_COLUMNS + 2 : BASE_COLUMNS + 3;
}

/* A child array reading one column's buffers (NULL on allocation failure). */
static struct ArrowArray *take_column(Out *out, const Column *c) {
    int64_t n = (int64_t)out->rows;
    void *values;
    if (c->text) {
        Text *t = &out->text[c->column];
        return child_array(out->set, n, t->nulls, 3, t->nulls ? t->valid : NULL, t->offsets, t->chars);
    }
    switch (c->column) {
    case NUMBER_TIME: values = out->time; break;
    case NUMBER_STATUS: values = out->status; break;
    case NUMBER_BYTES: values = out->bytes; break;
    case NUMBER_LINE: values = out->line_no; break;
    default: values = out->valid_request; break;
    }
    return child_array(out->set, n, 0, 2, NULL, values, NULL);
}

/* Fill ``array`` (a struct array of the layout's columns) with the buffers of ``out``; 0 on
 * allocation failure, with everything built so far released (``out`` frees the rest). */
static int build_array(struct ArrowArray *array, Out *out, int layout) {
    int count = column_count(layout);
    memset(array, 0, sizeof *array);
    array->children = calloc((size_t)count, sizeof *array->children);
    array->buffers = calloc(1, sizeof *array->buffers);
    array->length = (int64_t)out->rows;
    array->n_buffers = 1;
    array->n_children = count;
    array->release = release_struct_array;
    if (!array->children || !array->buffers) {
        release_struct_array(array);
        return 0;
    }
    for (int i = 0; i < count; i++) {
        array->children[i] = take_column(out, &COLUMNS[i]);
        if (!array->children[i]) {
            release_struct_array(array);
            return 0;
        }
    }
    return 1;
}

static int build_schema(struct ArrowSchema *schema, int layout) {
    int count = column_count(layout);
    memset(schema, 0, sizeof *schema);
    schema->format = "+s";
    schema->name = "";
    schema->n_children = count;
    schema->children = calloc((size_t)count, sizeof *schema->children);
    schema->release = release_schema;
    if (!schema->children) {
        release_schema(schema);
        return 0;
    }
    for (int i = 0; i < count; i++) {
        struct ArrowSchema *child = calloc(1, sizeof *child);
        if (!child) {
            release_schema(schema);
            return 0;
        }
        child->format = COLUMNS[i].format;
        child->name = COLUMNS[i].name;
        child->flags = ARROW_FLAG_NULLABLE;
        child->release = release_leaf_schema;
        schema->children[i] = child;
    }
    return 1;
}

/* ------------------------------------------------------------------ Python type --- */

/* The parsed rows: an object polars reads through __arrow_c_array__ (once). */
typedef struct {
    PyObject_HEAD
    struct ArrowSchema *schema;
    struct ArrowArray *array;
    Py_ssize_t rows;
    long long blank_lines;
    PyObject *first_blank_lines; /* a tuple of line numbers */
} Columns;

static void schema_capsule_free(PyObject *capsule) {
    struct ArrowSchema *schema = PyCapsule_GetPointer(capsule, "arrow_schema");
    if (schema) {
        if (schema->release) schema->release(schema);
        free(schema);
    }
}

static void array_capsule_free(PyObject *capsule) {
    struct ArrowArray *array = PyCapsule_GetPointer(capsule, "arrow_array");
    if (array) {
        if (array->release) array->release(array);
        free(array);
    }
}

static void columns_drop(Columns *self) {
    if (self->schema) {
        if (self->schema->release) self->schema->release(self->schema);
        free(self->schema);
        self->schema = NULL;
    }
    if (self->array) {
        if (self->array->release) self->array->release(self->array);
        free(self->array);
        self->array = NULL;
    }
}

static void columns_dealloc(Columns *self) {
    columns_drop(self);
    Py_XDECREF(self->first_blank_lines);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *columns_arrow_c_array(Columns *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"requested_schema", NULL};
    PyObject *requested = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O", keywords, &requested)) return NULL;
    if (!self->schema || !self->array) {
        PyErr_SetString(PyExc_ValueError, "the columns were exported already");
        return NULL;
    }
    PyObject *schema = PyCapsule_New(self->schema, "arrow_schema", schema_capsule_free);
    if (!schema) return NULL;
    self->schema = NULL; /* the capsule owns it now */
    PyObject *array = PyCapsule_New(self->array, "arrow_array", array_capsule_free);
    if (!array) {
        Py_DECREF(schema);
        return NULL;
    }
    self->array = NULL;
    PyObject *pair = PyTuple_Pack(2, schema, array);
    Py_DECREF(schema);
    Py_DECREF(array);
    return pair;
}

static PyObject *columns_len(Columns *self, void *closure) {
    (void)closure;
    return PyLong_FromSsize_t(self->rows);
}

static PyMethodDef columns_methods[] = {
    {"__arrow_c_array__", (PyCFunction)(void (*)(void))columns_arrow_c_array, METH_VARARGS | METH_KEYWORDS,
     "The rows as an Arrow struct array (schema and array capsules); once."},
    {NULL, NULL, 0, NULL},
};

static PyObject *columns_blank_lines(Columns *self, void *closure) {
    (void)closure;
    return PyLong_FromLongLong(self->blank_lines);
}

static PyObject *columns_first_blank_lines(Columns *self, void *closure) {
    (void)closure;
    return Py_NewRef(self->first_blank_lines);
}

static PyGetSetDef columns_getset[] = {
    {"rows", (getter)columns_len, NULL, "How many lines were taken.", NULL},
    {"blank_lines", (getter)columns_blank_lines, NULL, "How many lines were empty (no byte before the newline).",
     NULL},
    {"first_blank_lines", (getter)columns_first_blank_lines, NULL,
     "The line numbers of the first BLANK_EXAMPLES empty lines, in order.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ColumnsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "botguard.logs._fastparse.Columns",
    .tp_basicsize = sizeof(Columns),
    .tp_dealloc = (destructor)columns_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Rows read by the fast path, exported once through the Arrow PyCapsule interface.",
    .tp_methods = columns_methods,
    .tp_getset = columns_getset,
};

/* ------------------------------------------------------------------ parse() --- */

/* Blank lines whose numbers are kept: as many as the malformed examples of a batch
 * (botguard.logs._malformed.EXAMPLES_PER_BATCH, checked by a test). */
#define BLANK_EXAMPLES 20

typedef struct {
    Out out;
    Reject *rejects;
    size_t rejected;
    size_t reject_bytes;
    int64_t blanks;                       /* empty lines, counted here (a malformed reason) */
    int64_t first_blanks[BLANK_EXAMPLES]; /* the first ones' line numbers */
    struct ArrowSchema *schema;
    struct ArrowArray *array;
} Work;

static void work_free(Work *work) {
    out_free(&work->out);
    if (work->schema) {
        if (work->schema->release) work->schema->release(work->schema);
        free(work->schema);
    }
    if (work->array) {
        if (work->array->release) work->array->release(work->array);
        free(work->array);
    }
}

/* The GIL-free part: split into lines, take or reject each, build the Arrow structs.
 * 0 on allocation failure (the caller frees ``work``). */
static int run(const unsigned char *data, size_t size, int64_t first, int layout, Work *work) {
    size_t lines = 0;
    for (const unsigned char *p = data, *stop = data + size; p < stop; lines++) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(stop - p));
        p = nl ? nl + 1 : stop;
    }
    work->schema = calloc(1, sizeof *work->schema);
    work->array = calloc(1, sizeof *work->array);
    if (!work->schema || !work->array || !out_init(&work->out, lines, size, &work->rejects)) return 0;
    size_t start = 0;
    Row row;
    for (size_t line = 0; line < lines; line++) {
        const unsigned char *nl = memchr(data + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - data) : size;
        size_t next = nl ? end + 1 : size;
        /* A last line without its newline was cut at the block's end: the polars path's. */
        if (nl && end == start) {
            /* An empty line (the polars path's reason "empty"), counted here: handed back,
             * a block of newlines cost the polars path ~800 bytes of memory a line. */
            if (work->blanks < BLANK_EXAMPLES) work->first_blanks[work->blanks] = first + (int64_t)line;
            work->blanks++;
        } else if (nl && parse_line(data, start, end, layout, &row)) {
            row.line_no = first + (int64_t)line;
            out_add(&work->out, data, &row, layout);
        } else {
            Reject *reject = &work->rejects[work->rejected++];
            reject->start = start;
            reject->end = next;
            reject->line_no = first + (int64_t)line;
            work->reject_bytes += next - start;
        }
        start = next;
    }
    return build_schema(work->schema, layout) && build_array(work->array, &work->out, layout);
}

PyDoc_STRVAR(parse_doc,
             "parse(data, first_line_no, layout) -> (columns, rejected_block, rejected_line_numbers)\n\n"
             "Read the lines of ``data`` (bytes) this path is certain about into Arrow columns; the\n"
             "others are returned as one block of their bytes, in order, and their line numbers.\n"
             "``layout``: COMMON, COMBINED or VHOST_COMBINED.");

static PyObject *parse(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer view;
    long long first;
    int layout;
    if (!PyArg_ParseTuple(args, "y*Li", &view, &first, &layout)) return NULL;
    if (layout < LAYOUT_COMMON || layout > LAYOUT_VHOST_COMBINED) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "unknown layout");
        return NULL;
    }
    size_t size = (size_t)view.len;
    /* Line numbers must not overflow: first + lines <= INT64_MAX (lines <= size + 1). */
    if (first < 0 || (unsigned long long)first > (unsigned long long)INT64_MAX - size - 1) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_OverflowError, "line numbers out of range");
        return NULL;
    }
    Work work = {0};
    int ok;
    Py_BEGIN_ALLOW_THREADS
    ok = run(view.buf, size, (int64_t)first, layout, &work);
    Py_END_ALLOW_THREADS
    PyObject *result = NULL, *block = NULL, *numbers = NULL;
    Columns *columns = NULL;
    if (!ok) {
        PyErr_NoMemory();
        goto done;
    }
    block = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)work.reject_bytes);
    numbers = PyList_New((Py_ssize_t)work.rejected);
    columns = PyObject_New(Columns, &ColumnsType);
    if (columns) { /* before any exit: the dealloc on the error path reads them */
        columns->schema = NULL;
        columns->array = NULL;
        columns->first_blank_lines = NULL;
    }
    if (!block || !numbers || !columns) goto done;
    int64_t kept = work.blanks < BLANK_EXAMPLES ? work.blanks : BLANK_EXAMPLES;
    columns->blank_lines = work.blanks;
    if (!(columns->first_blank_lines = PyTuple_New((Py_ssize_t)kept))) goto done;
    for (int64_t i = 0; i < kept; i++) {
        PyObject *number = PyLong_FromLongLong(work.first_blanks[i]);
        if (!number) goto done;
        PyTuple_SET_ITEM(columns->first_blank_lines, (Py_ssize_t)i, number);
    }
    char *out = PyBytes_AS_STRING(block);
    for (size_t i = 0; i < work.rejected; i++) {
        const Reject *r = &work.rejects[i];
        memcpy(out, (const char *)view.buf + r->start, r->end - r->start);
        out += r->end - r->start;
        PyObject *number = PyLong_FromLongLong(r->line_no);
        if (!number) goto done;
        PyList_SET_ITEM(numbers, (Py_ssize_t)i, number);
    }
    columns->schema = work.schema;
    columns->array = work.array;
    columns->rows = (Py_ssize_t)work.out.rows;
    work.schema = NULL;
    work.array = NULL;
    result = PyTuple_Pack(3, (PyObject *)columns, block, numbers);
done:
    Py_XDECREF(columns);
    Py_XDECREF(block);
    Py_XDECREF(numbers);
    work_free(&work);
    PyBuffer_Release(&view);
    return result;
}

PyDoc_STRVAR(pool_stats_doc,
             "pool_stats() -> dict\n\n"
             "The column buffer pool's counters: sets made, reused and freed, buffers grown, sets\n"
             "idle in the pool and sets out (read by arrays not yet released).");

static PyObject *pool_stats(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    pthread_mutex_lock(&pool_lock);
    long made = pool_sets_made, reused = pool_sets_reused, freed = pool_sets_freed, grown = pool_buffers_grown;
    long idle = pool_idle_count, out = pool_sets_out;
    pthread_mutex_unlock(&pool_lock);
    return Py_BuildValue("{sl,sl,sl,sl,sl,sl}", "made", made, "reused", reused, "freed", freed, "grown", grown,
                         "idle", idle, "out", out);
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_VARARGS, parse_doc},
    {"pool_stats", pool_stats, METH_NOARGS, pool_stats_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "botguard.logs._fastparse",
    "One-pass reader of the built-in quote-delimited log formats (see botguard/logs/README.md).", -1, methods,
    NULL, NULL, NULL, NULL,
};

/* A child forked while another thread held the pool's lock would wait for it forever. */
static void pool_lock_before_fork(void) { pthread_mutex_lock(&pool_lock); }
static void pool_unlock_after_fork(void) { pthread_mutex_unlock(&pool_lock); }

PyMODINIT_FUNC PyInit__fastparse(void) {
    static int fork_handlers;
    if (!fork_handlers) {
        if (pthread_atfork(pool_lock_before_fork, pool_unlock_after_fork, pool_unlock_after_fork) != 0) {
            PyErr_SetString(PyExc_OSError, "pthread_atfork failed");
            return NULL;
        }
        fork_handlers = 1;
    }
    if (PyType_Ready(&ColumnsType) < 0) return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (!module) return NULL;
    if (PyModule_AddIntConstant(module, "COMMON", LAYOUT_COMMON) < 0 ||
        PyModule_AddIntConstant(module, "COMBINED", LAYOUT_COMBINED) < 0 ||
        PyModule_AddIntConstant(module, "VHOST_COMBINED", LAYOUT_VHOST_COMBINED) < 0 ||
        PyModule_AddIntConstant(module, "MAX_LINE", MAX_LINE) < 0 ||
        PyModule_AddIntConstant(module, "BLANK_EXAMPLES", BLANK_EXAMPLES) < 0 ||
        PyModule_AddIntConstant(module, "POOL_IDLE_MAX", POOL_IDLE_MAX) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
