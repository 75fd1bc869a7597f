/* lazylibs: libzmq, libcrypto, libsqlite3 and libpng are loaded when first
 * used, not when iopsd starts. Linked normally, libzmq and libcrypto pull in
 * some twenty shared libraries (libstdc++, libsodium, Kerberos, ...) whose
 * loading and relocation cost ~5 ms on every start, and libsqlite3 (only for
 * `record`) and libpng with libz (only for PNG output) another ~30 page
 * faults, ~1 ms on a VM where faults are dear; `iopsd measure` uses none of
 * them, and its fixed cost must stay near that of fork and exec. The program
 * defines the few functions it uses here; each resolves its real counterpart
 * with dlsym on first call. (Unit tests link the real libraries directly:
 * see IOPSD_LAZY_LIBS in server/CMakeLists.txt.) */
#include <dlfcn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <png.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

struct lazylib {
    const char *const *names; /* sonames to try, in order */
    void *handle;
};

static const char *const zmq_names[] = {"libzmq.so.5", "libzmq.5.dylib", "libzmq.so", NULL};
static const char *const crypto_names[] = {"libcrypto.so.3", "libcrypto.3.dylib", "libcrypto.so",
                                           NULL};
static struct lazylib lib_zmq = {zmq_names, NULL};
static const char *const sqlite_names[] = {"libsqlite3.so.0", "libsqlite3.0.dylib",
                                           "libsqlite3.dylib", "libsqlite3.so", NULL};
static const char *const png_names[] = {"libpng16.so.16", "libpng16.16.dylib", "libpng16.dylib",
                                        "libpng16.so", NULL};
static struct lazylib lib_crypto = {crypto_names, NULL};
static struct lazylib lib_sqlite = {sqlite_names, NULL};
static struct lazylib lib_png = {png_names, NULL};

/* The address of `fn` in lib; exits with iopsd's own-failure status (125)
 * and one line when the library or the symbol cannot be found. */
static void *lazy_sym(struct lazylib *lib, const char *fn)
{
    if (!lib->handle) {
        for (const char *const *n = lib->names; *n && !lib->handle; n++)
            lib->handle = dlopen(*n, RTLD_NOW | RTLD_LOCAL);
        if (!lib->handle) {
            fprintf(stderr, "iopsd: cannot load %s: %s\n", lib->names[0], dlerror());
            exit(125);
        }
    }
    void *p = dlsym(lib->handle, fn);
    if (!p) {
        fprintf(stderr, "iopsd: %s has no %s\n", lib->names[0], fn);
        exit(125);
    }
    return p;
}

/* Defines `ret name params` forwarding `args` to the library's own. */
#define LAZY(lib, ret, name, params, args)                                                         \
    ret name params                                                                                \
    {                                                                                              \
        static ret(*real) params;                                                                  \
        if (!real)                                                                                 \
            *(void **)&real = lazy_sym(&lib, #name);                                               \
        return real args;                                                                          \
    }

#define LAZY_VOID(lib, name, params, args)                                                         \
    void name params                                                                               \
    {                                                                                              \
        static void(*real) params;                                                                 \
        if (!real)                                                                                 \
            *(void **)&real = lazy_sym(&lib, #name);                                               \
        real args;                                                                                 \
    }

/* libzmq */
LAZY(lib_zmq, void *, zmq_ctx_new, (void), ())
LAZY(lib_zmq, int, zmq_ctx_shutdown, (void *c), (c))
LAZY(lib_zmq, int, zmq_ctx_term, (void *c), (c))
LAZY(lib_zmq, void *, zmq_socket, (void *c, int type), (c, type))
LAZY(lib_zmq, int, zmq_close, (void *s), (s))
LAZY(lib_zmq, int, zmq_bind, (void *s, const char *addr), (s, addr))
LAZY(lib_zmq, int, zmq_connect, (void *s, const char *addr), (s, addr))
LAZY(lib_zmq, int, zmq_setsockopt, (void *s, int opt, const void *v, size_t n), (s, opt, v, n))
LAZY(lib_zmq, int, zmq_getsockopt, (void *s, int opt, void *v, size_t *n), (s, opt, v, n))
LAZY(lib_zmq, int, zmq_send, (void *s, const void *b, size_t n, int fl), (s, b, n, fl))
LAZY(lib_zmq, int, zmq_recv, (void *s, void *b, size_t n, int fl), (s, b, n, fl))
LAZY(lib_zmq, int, zmq_msg_init, (zmq_msg_t * m), (m))
LAZY(lib_zmq, int, zmq_msg_close, (zmq_msg_t * m), (m))
LAZY(lib_zmq, int, zmq_msg_copy, (zmq_msg_t * d, zmq_msg_t *s), (d, s))
LAZY(lib_zmq, int, zmq_msg_recv, (zmq_msg_t * m, void *s, int fl), (m, s, fl))
LAZY(lib_zmq, int, zmq_msg_send, (zmq_msg_t * m, void *s, int fl), (m, s, fl))
LAZY(lib_zmq, int, zmq_msg_init_size, (zmq_msg_t * m, size_t n), (m, n))
LAZY(lib_zmq, void *, zmq_msg_data, (zmq_msg_t * m), (m))
LAZY(lib_zmq, size_t, zmq_msg_size, (const zmq_msg_t *m), (m))
LAZY(lib_zmq, int, zmq_msg_more, (const zmq_msg_t *m), (m))
LAZY(lib_zmq, int, zmq_poll, (zmq_pollitem_t * items, int n, long timeout), (items, n, timeout))
LAZY(lib_zmq, int, zmq_proxy, (void *f, void *b, void *c), (f, b, c))
LAZY(lib_zmq, int, zmq_errno, (void), ())
LAZY(lib_zmq, const char *, zmq_strerror, (int e), (e))

/* libcrypto (OpenSSL 3) */
LAZY(lib_crypto, int, CRYPTO_memcmp, (const void *a, const void *b, size_t n), (a, b, n))
LAZY(lib_crypto, int, RAND_bytes, (unsigned char *b, int n), (b, n))
LAZY(lib_crypto, EVP_MAC *, EVP_MAC_fetch, (OSSL_LIB_CTX * l, const char *a, const char *p),
     (l, a, p))
LAZY_VOID(lib_crypto, EVP_MAC_free, (EVP_MAC * m), (m))
LAZY(lib_crypto, EVP_MAC_CTX *, EVP_MAC_CTX_new, (EVP_MAC * m), (m))
LAZY(lib_crypto, EVP_MAC_CTX *, EVP_MAC_CTX_dup, (const EVP_MAC_CTX *c), (c))
LAZY_VOID(lib_crypto, EVP_MAC_CTX_free, (EVP_MAC_CTX * c), (c))
LAZY(lib_crypto, int, EVP_MAC_init,
     (EVP_MAC_CTX * c, const unsigned char *k, size_t n, const OSSL_PARAM p[]), (c, k, n, p))
LAZY(lib_crypto, int, EVP_MAC_update, (EVP_MAC_CTX * c, const unsigned char *d, size_t n),
     (c, d, n))
LAZY(lib_crypto, int, EVP_MAC_final,
     (EVP_MAC_CTX * c, unsigned char *out, size_t *outl, size_t size), (c, out, outl, size))
LAZY(lib_crypto, OSSL_PARAM, OSSL_PARAM_construct_utf8_string, (const char *k, char *b, size_t n),
     (k, b, n))
LAZY(lib_crypto, OSSL_PARAM, OSSL_PARAM_construct_end, (void), ())

/* libsqlite3 (`iopsd record`) */
LAZY(lib_sqlite, int, sqlite3_open_v2, (const char *f, sqlite3 **db, int fl, const char *vfs),
     (f, db, fl, vfs))
LAZY(lib_sqlite, int, sqlite3_close, (sqlite3 * db), (db))
LAZY(lib_sqlite, int, sqlite3_busy_timeout, (sqlite3 * db, int ms), (db, ms))
LAZY(lib_sqlite, const char *, sqlite3_errmsg, (sqlite3 * db), (db))
LAZY(lib_sqlite, int, sqlite3_exec,
     (sqlite3 * db, const char *sql, int (*cb)(void *, int, char **, char **), void *arg,
      char **errmsg),
     (db, sql, cb, arg, errmsg))
LAZY(lib_sqlite, int, sqlite3_prepare_v2,
     (sqlite3 * db, const char *sql, int n, sqlite3_stmt **st, const char **tail),
     (db, sql, n, st, tail))
LAZY(lib_sqlite, int, sqlite3_step, (sqlite3_stmt * st), (st))
LAZY(lib_sqlite, int, sqlite3_reset, (sqlite3_stmt * st), (st))
LAZY(lib_sqlite, int, sqlite3_finalize, (sqlite3_stmt * st), (st))
LAZY(lib_sqlite, int, sqlite3_bind_double, (sqlite3_stmt * st, int i, double v), (st, i, v))
LAZY(lib_sqlite, int, sqlite3_bind_int64, (sqlite3_stmt * st, int i, sqlite3_int64 v), (st, i, v))
LAZY(lib_sqlite, int, sqlite3_bind_null, (sqlite3_stmt * st, int i), (st, i))
LAZY(lib_sqlite, int, sqlite3_bind_text,
     (sqlite3_stmt * st, int i, const char *t, int n, void (*d)(void *)), (st, i, t, n, d))
LAZY(lib_sqlite, int, sqlite3_column_count, (sqlite3_stmt * st), (st))
LAZY(lib_sqlite, int, sqlite3_column_type, (sqlite3_stmt * st, int i), (st, i))
LAZY(lib_sqlite, const char *, sqlite3_column_name, (sqlite3_stmt * st, int i), (st, i))
LAZY(lib_sqlite, double, sqlite3_column_double, (sqlite3_stmt * st, int i), (st, i))
LAZY(lib_sqlite, sqlite3_int64, sqlite3_column_int64, (sqlite3_stmt * st, int i), (st, i))
LAZY(lib_sqlite, const unsigned char *, sqlite3_column_text, (sqlite3_stmt * st, int i), (st, i))

/* libpng (PNG output) */
LAZY(lib_png, png_structp, png_create_write_struct,
     (png_const_charp ver, png_voidp eptr, png_error_ptr efn, png_error_ptr wfn),
     (ver, eptr, efn, wfn))
LAZY(lib_png, png_infop, png_create_info_struct, (png_const_structrp p), (p))
LAZY_VOID(lib_png, png_destroy_write_struct, (png_structpp pp, png_infopp ip), (pp, ip))
LAZY(lib_png, jmp_buf *, png_set_longjmp_fn, (png_structrp p, png_longjmp_ptr fn, size_t n),
     (p, fn, n))
LAZY(lib_png, png_voidp, png_get_io_ptr, (png_const_structrp p), (p))
LAZY_VOID(lib_png, png_set_write_fn,
          (png_structrp p, png_voidp io, png_rw_ptr wfn, png_flush_ptr ffn), (p, io, wfn, ffn))
LAZY_VOID(lib_png, png_set_IHDR,
          (png_const_structrp p, png_inforp i, png_uint_32 w, png_uint_32 h, int depth, int color,
           int interlace, int compression, int filter),
          (p, i, w, h, depth, color, interlace, compression, filter))
LAZY_VOID(lib_png, png_set_PLTE, (png_structrp p, png_inforp i, png_const_colorp pal, int n),
          (p, i, pal, n))
LAZY_VOID(lib_png, png_set_pHYs,
          (png_const_structrp p, png_inforp i, png_uint_32 x, png_uint_32 y, int unit),
          (p, i, x, y, unit))
LAZY_VOID(lib_png, png_set_filter, (png_structrp p, int method, int filters), (p, method, filters))
LAZY_VOID(lib_png, png_set_compression_level, (png_structrp p, int level), (p, level))
LAZY_VOID(lib_png, png_set_check_for_invalid_index, (png_structrp p, int allowed), (p, allowed))
LAZY_VOID(lib_png, png_write_info, (png_structrp p, png_const_inforp i), (p, i))
LAZY_VOID(lib_png, png_write_image, (png_structrp p, png_bytepp rows), (p, rows))
LAZY_VOID(lib_png, png_write_end, (png_structrp p, png_inforp i), (p, i))

/* These two never return (libpng declares them so): the real one longjmps. */
void png_error(png_const_structrp p, png_const_charp msg)
{
    static void (*real)(png_const_structrp, png_const_charp);
    if (!real)
        *(void **)&real = lazy_sym(&lib_png, "png_error");
    real(p, msg);
    abort();
}

void png_longjmp(png_const_structrp p, int val)
{
    static void (*real)(png_const_structrp, int);
    if (!real)
        *(void **)&real = lazy_sym(&lib_png, "png_longjmp");
    real(p, val);
    abort();
}
