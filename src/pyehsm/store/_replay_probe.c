/* The replay table's hot path in C, and the table's locks.
 *
 * mapped_replay.py owns the table (layout, creation, resize, the keyed tag, overflow to SQLite); this
 * module runs the common case of MappedReplayGuard.remember_now with the interpreter out of the way:
 * under the locks of the tag's two candidate buckets it looks the tag up in both and, when it is new
 * and no overflow horizon is pending, writes it into the first free slot. Anything else (an overflow
 * horizon still ahead, both buckets full) changes nothing and answers SLOW_PATH: the caller then runs
 * the Python implementation, which handles every case under the whole-table lock.
 *
 * Locks: open-file-description byte-range locks (F_OFD_SETLK) on the first STRIPES bytes of the table
 * file, one byte per stripe of buckets (bucket i belongs to stripe i % STRIPES). A request locks the
 * stripes of its two buckets (in ascending order, so two requests cannot deadlock); the whole-table
 * lock (lock_table: every stripe at once) excludes all of them. The kernel releases a dead worker's
 * locks. Striping matters on a busy machine: a worker preempted while holding a lock stalls only the
 * requests that need one of its two stripes, not every request of the node (one flock() did that).
 *
 * Slot layout (mapped_replay.py): 8 slots of (tag, expires_ms) per bucket, two little-endian u64.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* F_OFD_SETLK */
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#ifndef F_OFD_SETLK
#error "pyehsm's replay table needs open-file-description locks (F_OFD_SETLK: Linux 3.15 and later)"
#endif

#define SLOTS_PER_BUCKET 8
#define SLOT_BYTES 16
#define BUCKET_BYTES (SLOTS_PER_BUCKET * SLOT_BYTES)
#define OVERFLOW_AT 24   /* the header's overflow horizon */
#define DATA_OFFSET 4096 /* the header's size: buckets start here */
#define STRIPES 64        /* lock stripes: the file's first STRIPES bytes, one per stripe */

enum { SEEN = 0, PLACED = 1, SLOW_PATH = 2 };

static uint64_t load_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void store_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

static int range_lock(int fd, int command, short type, off_t start, off_t length) {
    struct flock region;
    memset(&region, 0, sizeof region);
    region.l_type = type;
    region.l_whence = SEEK_SET;
    region.l_start = start;
    region.l_len = length;
    return fcntl(fd, command, &region);
}

/* An exclusive lock on stripes [start, start + length); waits for it with the GIL released (its holder
 * may be a thread of this process that needs the GIL to finish: the slow path runs Python code). */
static int lock_stripes(int fd, off_t start, off_t length) {
    if (range_lock(fd, F_OFD_SETLK, F_WRLCK, start, length) == 0) {
        return 0; /* the usual case: free, no GIL round trip */
    }
    if (errno != EAGAIN && errno != EACCES && errno != EINTR) {
        return -1;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    do {
        rc = range_lock(fd, F_OFD_SETLKW, F_WRLCK, start, length);
    } while (rc != 0 && errno == EINTR);
    Py_END_ALLOW_THREADS
    return rc;
}

static int unlock_stripes(int fd, off_t start, off_t length) {
    int rc;
    do {
        rc = range_lock(fd, F_OFD_SETLK, F_UNLCK, start, length);
    } while (rc != 0 && errno == EINTR);
    return rc;
}

static off_t stripe_of(Py_ssize_t bucket_offset) {
    return (off_t)(((bucket_offset - DATA_OFFSET) / BUCKET_BYTES) % STRIPES);
}

/* Both stripes of a request, lower first; on failure nothing stays locked. */
static int lock_pair(int fd, off_t low, off_t high) {
    if (lock_stripes(fd, low, 1) != 0) {
        return -1;
    }
    if (high != low && lock_stripes(fd, high, 1) != 0) {
        int saved = errno;
        unlock_stripes(fd, low, 1);
        errno = saved;
        return -1;
    }
    return 0;
}

static int as_fd(PyObject *value) {
    long fd = PyLong_AsLong(value);
    if (fd == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (fd < 0 || fd > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "not a file descriptor");
        return -1;
    }
    return (int)fd;
}

/* SEEN, PLACED or SLOW_PATH for one (tag, buckets) under the lock; the table is valid for both buckets. */
static int probe(unsigned char *table, uint64_t tag, const Py_ssize_t buckets[2], uint64_t now_ms,
                 uint64_t expires_ms) {
    for (int b = 0; b < 2; b++) {
        const unsigned char *bucket = table + buckets[b];
        for (int s = 0; s < SLOTS_PER_BUCKET; s++) {
            const unsigned char *slot = bucket + s * SLOT_BYTES;
            if (load_le64(slot) == tag && load_le64(slot + 8) > now_ms) {
                return SEEN;
            }
        }
    }
    if (now_ms < load_le64(table + OVERFLOW_AT)) {
        return SLOW_PATH; /* entries went to SQLite: the Python path asks it too */
    }
    /* The entry goes to the bucket with fewer live entries (the first on a tie), into its slot that expired
     * first: choosing the emptier of two buckets keeps the table overflow-free to about 75 % full, where
     * always trying the first bucket first overflowed from about 40 % (replay_placement in
     * tests/unit/test_mapped_replay.py; mapped_replay.py _place is the same rule in Python). */
    int chosen = -1, chosen_slot = 0, chosen_live = SLOTS_PER_BUCKET;
    for (int b = 0; b < 2; b++) {
        const unsigned char *bucket = table + buckets[b];
        int live = 0, earliest = 0;
        uint64_t earliest_expiry = UINT64_MAX;
        for (int s = 0; s < SLOTS_PER_BUCKET; s++) {
            uint64_t expiry = load_le64(bucket + s * SLOT_BYTES + 8);
            if (expiry > now_ms) {
                live++;
            }
            if (expiry < earliest_expiry) {
                earliest = s;
                earliest_expiry = expiry;
            }
        }
        if (live < chosen_live) {
            chosen = b;
            chosen_slot = earliest;
            chosen_live = live;
        }
    }
    if (chosen >= 0) {
        unsigned char *slot = table + buckets[chosen] + chosen_slot * SLOT_BYTES;
        store_le64(slot, tag);
        store_le64(slot + 8, expires_ms);
        return PLACED;
    }
    return SLOW_PATH; /* both buckets full of live entries: the Python path overflows to SQLite */
}

PyDoc_STRVAR(remember_doc,
             "remember(table, fd, tag, bucket1, bucket2, now_ms, expires_ms) -> 0 seen, 1 placed, 2 slow path\n\n"
             "``table``: the writable mapping; ``fd``: the table file (its locks); bucket offsets in bytes.");

static PyObject *remember(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "remember() takes 7 arguments");
        return NULL;
    }
    uint64_t tag = PyLong_AsUnsignedLongLong(args[2]);
    Py_ssize_t buckets[2] = {PyLong_AsSsize_t(args[3]), PyLong_AsSsize_t(args[4])};
    uint64_t now_ms = PyLong_AsUnsignedLongLong(args[5]);
    uint64_t expires_ms = PyLong_AsUnsignedLongLong(args[6]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    int fd = as_fd(args[1]);
    if (fd < 0) {
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_WRITABLE) != 0) {
        return NULL;
    }
    int result = -1;
    if (view.len < DATA_OFFSET + BUCKET_BYTES || buckets[0] < DATA_OFFSET || buckets[1] < DATA_OFFSET ||
        buckets[0] > view.len - BUCKET_BYTES || buckets[1] > view.len - BUCKET_BYTES) {
        PyErr_SetString(PyExc_ValueError, "bucket outside the table");
    } else {
        off_t first = stripe_of(buckets[0]), second = stripe_of(buckets[1]);
        off_t low = first < second ? first : second, high = first < second ? second : first;
        if (lock_pair(fd, low, high) != 0) {
            PyErr_SetFromErrno(PyExc_OSError);
        } else {
            /* The GIL is held from here to the unlock: no thread of this process runs meanwhile. */
            result = probe((unsigned char *)view.buf, tag, buckets, now_ms, expires_ms);
            if (unlock_stripes(fd, low, high - low + 1) != 0) {
                PyErr_SetFromErrno(PyExc_OSError);
                result = -1;
            }
        }
    }
    PyBuffer_Release(&view);
    return result < 0 ? NULL : PyLong_FromLong(result);
}

PyDoc_STRVAR(count_live_doc,
             "count_live(table, now_ms) -> the slots whose expiry is after now_ms (live entries), every one\n\n"
             "read (no sampling); without the locks and the GIL: a slot written meanwhile may or may not count.");

static PyObject *count_live(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "count_live() takes 2 arguments");
        return NULL;
    }
    uint64_t now_ms = PyLong_AsUnsignedLongLong(args[1]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) != 0) {
        return NULL;
    }
    if (view.len < DATA_OFFSET) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "not a replay table");
        return NULL;
    }
    const unsigned char *slot = (const unsigned char *)view.buf + DATA_OFFSET;
    Py_ssize_t slots = (view.len - DATA_OFFSET) / SLOT_BYTES;
    unsigned long long live = 0;
    /* The buffer export keeps the mapping alive while the GIL is released. */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < slots; i++, slot += SLOT_BYTES) {
        live += load_le64(slot + 8) > now_ms;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLongLong(live);
}

/* The whole-table lock (every stripe) taken or released for lock_table / unlock_table. */
static PyObject *whole_table(PyObject *fd_object, int take) {
    int fd = as_fd(fd_object);
    if (fd < 0) {
        return NULL;
    }
    if ((take ? lock_stripes(fd, 0, STRIPES) : unlock_stripes(fd, 0, STRIPES)) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(lock_table_doc, "lock_table(fd): the whole-table lock (every stripe), waiting for it without the GIL.");

static PyObject *lock_table(PyObject *module, PyObject *fd_object) {
    (void)module;
    return whole_table(fd_object, 1);
}

PyDoc_STRVAR(unlock_table_doc, "unlock_table(fd): release the whole-table lock.");

static PyObject *unlock_table(PyObject *module, PyObject *fd_object) {
    (void)module;
    return whole_table(fd_object, 0);
}

static PyMethodDef methods[] = {
    {"remember", (PyCFunction)(void (*)(void))remember, METH_FASTCALL, remember_doc},
    {"count_live", (PyCFunction)(void (*)(void))count_live, METH_FASTCALL, count_live_doc},
    {"lock_table", lock_table, METH_O, lock_table_doc},
    {"unlock_table", unlock_table, METH_O, unlock_table_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pyehsm.store._replay_probe",
    .m_doc = "The replay table's hot path (see mapped_replay.py).",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__replay_probe(void) {
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddIntConstant(module, "SEEN", SEEN) < 0 || PyModule_AddIntConstant(module, "PLACED", PLACED) < 0 ||
        PyModule_AddIntConstant(module, "SLOW_PATH", SLOW_PATH) < 0 ||
        PyModule_AddIntConstant(module, "DATA_OFFSET", DATA_OFFSET) < 0 ||
        PyModule_AddIntConstant(module, "BUCKET_BYTES", BUCKET_BYTES) < 0 ||
        PyModule_AddIntConstant(module, "OVERFLOW_AT", OVERFLOW_AT) < 0 ||
        PyModule_AddIntConstant(module, "STRIPES", STRIPES) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
