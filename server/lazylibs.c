/* lazylibs: libzmq and libcrypto are loaded when first used, not when iopsd
 * starts. Linked normally they pull in some twenty shared libraries
 * (libstdc++, libsodium, Kerberos, ...) whose loading and relocation cost
 * ~5 ms on every start; `iopsd measure` uses neither, and its fixed cost must
 * stay near that of fork and exec. The program defines the few functions it
 * uses here; each resolves its real counterpart with dlsym on first call.
 * (Unit tests link the real libraries directly.) */
#include <dlfcn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
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
static struct lazylib lib_crypto = {crypto_names, NULL};

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
