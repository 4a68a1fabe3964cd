// TLS for node links: certificate checks, pins, certificates for `microlith cert new`, and the
// verify hook CAF's OpenSSL session is bound to (tls.hpp explains why it exists).
#include "microlith/net/cluster/tls.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

namespace microlith::cluster::tls {

namespace {

constexpr std::string_view component = "cluster";

struct file_closer {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
using file_ptr = std::unique_ptr<std::FILE, file_closer>;

struct x509_deleter {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

struct pkey_deleter {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

caf::error invalid(std::string message) {
  return make_error(errc::invalid_argument, std::move(message));
}

std::string hex(const unsigned char* data, unsigned int size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 0x0f]);
  }
  return out;
}

std::string fingerprint_of(const X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (X509_digest(cert, EVP_sha256(), md, &size) != 1)
    return {};
  return hex(md, size);
}

caf::expected<x509_ptr> read_certificate(const std::string& path) {
  file_ptr f{std::fopen(path.c_str(), "rb")};
  if (!f)
    return invalid(fmt::format("cannot open {} ({})", path, std::strerror(errno)));
  x509_ptr cert{PEM_read_X509(f.get(), nullptr, nullptr, nullptr)};
  if (!cert)
    return invalid(fmt::format("{} holds no PEM certificate", path));
  return cert;
}

// No passphrase prompt: an encrypted key fails instead of reading the terminal.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

caf::expected<pkey_ptr> read_key(const std::string& path) {
  file_ptr f{std::fopen(path.c_str(), "rb")};
  if (!f)
    return invalid(fmt::format("cannot open {} ({})", path, std::strerror(errno)));
  pkey_ptr key{PEM_read_PrivateKey(f.get(), nullptr, no_passphrase, nullptr)};
  if (!key)
    return invalid(fmt::format("{} holds no unencrypted PEM private key", path));
  return key;
}

// -- the registry the verify hook reads -------------------------------------------------------

struct registration {
  std::string source;
  std::vector<std::string> pins; // fingerprints: the pinned files' and the sha256 entries
};

struct registry {
  std::mutex mutex;
  // By the fingerprint of the node's own certificate. Entries are never freed (an SSL_CTX of a
  // connection may still point to one); a process registers a handful at most.
  std::map<std::string, std::shared_ptr<const registration>> by_certificate;
  std::vector<std::shared_ptr<const registration>> all;
};

// Never destroyed: the middleman's thread may still make a context while the process exits.
registry& the_registry() {
  static auto* r = new registry;
  return *r;
}

int registration_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

using set_verify_fn = void (*)(SSL_CTX*, int, SSL_verify_cb);

set_verify_fn real_set_verify() {
  static const set_verify_fn real = [] {
    void* f = dlsym(RTLD_NEXT, "SSL_CTX_set_verify");
    if (f == nullptr)
      f = dlvsym(RTLD_NEXT, "SSL_CTX_set_verify", "OPENSSL_3.0.0");
    if (f == nullptr) {
      std::fprintf(stderr, "microlith: OpenSSL's SSL_CTX_set_verify not found\n");
      std::abort();
    }
    return reinterpret_cast<set_verify_fn>(f);
  }();
  return real;
}

template <class F>
F real_function(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (f == nullptr)
    f = dlvsym(RTLD_NEXT, name, "OPENSSL_3.0.0");
  if (f == nullptr) {
    std::fprintf(stderr, "microlith: OpenSSL's %s not found\n", name);
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

// -- CAF's SIGPIPE guard ------------------------------------------------------------------------
//
// CAF 0.17.6's OpenSSL session wraps each of its TLS calls (every SSL_read and SSL_write of a node
// link, the handshake steps) in CAF_BLOCK_SIGPIPE: pthread_sigmask(SIG_BLOCK, {SIGPIPE}), the
// call, sigtimedwait({SIGPIPE}, timeout 0) to take a SIGPIPE the call raised, and
// pthread_sigmask(SIG_SETMASK, the saved mask). Three system calls around every TLS call, and a
// round trip makes 5-6 TLS calls with 64 calls outstanding, some 15 with one (a BASP message is
// read as a header and a payload, each its own SSL_read): they were most of what TLS links cost
// over plain ones (docs/benchmarks.md, "TLS node links against plain"). The program's
// pthread_sigmask and sigtimedwait below (bound as the SSL_* functions are, net/CMakeLists.txt) let
// the guard skip them on the thread that does node links' I/O (the middleman's multiplexer thread,
// recognised by its first SSL_read or SSL_write of a node link): the first guard there blocks
// SIGPIPE for good and answers the mask with SIGPIPE in it, so the guard's own restore keeps it
// blocked; later guards find it blocked (no call), take a pending SIGPIPE only when a TLS call
// since the last take failed other than with EAGAIN (only a failed write raises one), and restore
// nothing. Everything else, and every call from outside libcaf_openssl, is forwarded to the C
// library unchanged; a call that changes the mask otherwise ends the shortcut on that thread until
// CAF's next guard.

// Where libcaf_openssl's code is mapped (located by tls::prepare()); both 0 until then.
std::atomic<std::uintptr_t> caf_openssl_begin{0};
std::atomic<std::uintptr_t> caf_openssl_end{0};

std::atomic<std::uint64_t> guards_entered{0};
std::atomic<std::uint64_t> guard_system_calls{0};

struct guard_thread_state {
  bool link_io;          // this thread made a node link's SSL_read or SSL_write
  bool holding;          // SIGPIPE is blocked on this thread for good; `mask` is its signal mask
  bool sigpipe_possible; // a node link's TLS call failed other than with EAGAIN since the last take
  sigset_t mask;
};

thread_local guard_thread_state guard_state{};

void locate_caf_openssl() {
  if (caf_openssl_end.load() != 0)
    return;
  struct range {
    std::uintptr_t begin = 0;
    std::uintptr_t end = 0;
  } found;
  dl_iterate_phdr(
    [](dl_phdr_info* info, std::size_t, void* data) -> int {
      if (info->dlpi_name == nullptr
          || std::strstr(info->dlpi_name, "libcaf_openssl.so") == nullptr)
        return 0;
      auto* out = static_cast<range*>(data);
      for (ElfW(Half) i = 0; i < info->dlpi_phnum; ++i) {
        const auto& segment = info->dlpi_phdr[i];
        if (segment.p_type != PT_LOAD || (segment.p_flags & PF_X) == 0)
          continue;
        std::uintptr_t begin = info->dlpi_addr + segment.p_vaddr;
        if (out->begin == 0 || begin < out->begin)
          out->begin = begin;
        out->end = std::max<std::uintptr_t>(out->end, begin + segment.p_memsz);
      }
      return 1;
    },
    &found);
  caf_openssl_begin.store(found.begin);
  caf_openssl_end.store(found.end);
}

bool from_caf_openssl(const void* return_address) {
  auto at = reinterpret_cast<std::uintptr_t>(return_address);
  auto end = caf_openssl_end.load(std::memory_order_relaxed);
  return end != 0 && at < end && at >= caf_openssl_begin.load(std::memory_order_relaxed);
}

// The first 64 signals: all the kernel keeps on Linux (the C library passes 8 bytes; the rest of
// a sigset_t is not even cleared by sigemptyset).
std::uint64_t first_signals(const sigset_t& set) {
  std::uint64_t word = 0;
  std::memcpy(&word, &set, sizeof word);
  return word;
}

constexpr std::uint64_t sigpipe_only = std::uint64_t{1} << (SIGPIPE - 1);

template <class F>
F real_libc_function(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (f == nullptr) {
    std::fprintf(stderr, "microlith: the C library's %s not found\n", name);
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

// After a node link's TLS call: a failure other than EAGAIN may have raised SIGPIPE.
void note_tls_result(int result, int error) {
  if (result <= 0 && error != EAGAIN && error != EWOULDBLOCK)
    guard_state.sigpipe_possible = true;
}

// True when `ssl` belongs to a context the hook gave a registration: a node link.
bool is_node_link(const SSL* ssl) {
  return ssl != nullptr
         && SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), registration_index()) != nullptr;
}

// OpenSSL's `real` call on `ssl`: for a node link, the error queue emptied first and a failure
// that may have raised SIGPIPE noted after; `io` (SSL_read, SSL_write) also marks this thread as
// the one doing node links' I/O. Any other connection's call is only forwarded.
template <class Real, class... Args>
int node_link_call(bool io, Real real, SSL* ssl, Args... args) {
  if (!is_node_link(ssl))
    return real(ssl, args...);
  ERR_clear_error();
  if (io)
    guard_state.link_io = true;
  int result = real(ssl, args...);
  note_tls_result(result, errno);
  return result;
}

// The peer's leaf certificate must be pinned; the certificates above it (if it sent any) decide
// nothing. OpenSSL's own verdict on the chain is replaced by the pin check: CAF's context loads no
// trusted certificates (prepare() names no cafile), so a self-signed leaf arrives here at depth 0
// as X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT and a leaf of another issuer as
// X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY; a pinned one is accepted either way.
int verify_peer(int ok, X509_STORE_CTX* store) {
  (void)ok;
  if (X509_STORE_CTX_get_error_depth(store) != 0)
    return 1;
  auto* ssl =
    static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  const registration* reg = nullptr;
  if (ssl != nullptr)
    reg = static_cast<const registration*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), registration_index()));
  X509* peer = X509_STORE_CTX_get_current_cert(store);
  if (reg == nullptr || peer == nullptr)
    return 0;
  auto fp = fingerprint_of(peer);
  if (std::find(reg->pins.begin(), reg->pins.end(), fp) != reg->pins.end()) {
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return 1;
  }
  log::error(component, "node link refused: peer certificate sha256:{} is not trusted ({} trusted)",
             fp, reg->source);
  return 0;
}

} // namespace

std::optional<std::string> parse_fingerprint(std::string_view text) {
  constexpr std::string_view prefix = "sha256:";
  if (text.substr(0, prefix.size()) == prefix)
    text.remove_prefix(prefix.size());
  if (text.empty() || text.front() == ':' || text.back() == ':')
    return std::nullopt;
  char digits[64];
  std::size_t count = 0;
  char previous = 0;
  for (char c : text) {
    if (c == ':') {
      if (previous == ':')
        return std::nullopt; // two in a row
      previous = c;
      continue;
    }
    previous = c;
    if (c >= 'A' && c <= 'F')
      c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || count == sizeof digits)
      return std::nullopt;
    digits[count++] = c;
  }
  if (count != sizeof digits)
    return std::nullopt;
  return std::string(digits, count);
}

caf::expected<std::string> certificate_fingerprint(const std::string& pem_path) {
  auto cert = read_certificate(pem_path);
  if (!cert)
    return cert.error();
  return fingerprint_of(cert->get());
}

caf::error check_key_matches(const std::string& cert_path, const std::string& key_path) {
  auto cert = read_certificate(cert_path);
  if (!cert)
    return cert.error();
  auto key = read_key(key_path);
  if (!key)
    return key.error();
  if (EVP_PKEY_eq(X509_get0_pubkey(cert->get()), key->get()) != 1)
    return invalid(
      fmt::format("the key of {} does not match the certificate {}", key_path, cert_path));
  return {};
}

caf::error check(const tls_options& options) {
  if (options.certificate.empty() || options.key.empty())
    return invalid(fmt::format("{} needs both certificate and key (CAF's OpenSSL module without "
                               "a certificate would use anonymous ciphers)",
                               options.source));
  if (auto err = check_key_matches(options.certificate, options.key))
    return err;
  if (options.trusted_certificates.empty() && options.trusted_fingerprints.empty())
    return invalid(fmt::format("{} trusts no certificate", options.source));
  for (const auto& path : options.trusted_certificates)
    if (auto fp = certificate_fingerprint(path); !fp)
      return fp.error();
  for (const auto& fp : options.trusted_fingerprints)
    if (!parse_fingerprint(fp))
      return invalid(fmt::format("malformed fingerprint {}", fp));
  return {};
}

bool is_pinned(const tls_options& options, std::string_view peer) {
  for (const auto& fp : options.trusted_fingerprints)
    if (auto parsed = parse_fingerprint(fp); parsed && *parsed == peer)
      return true;
  for (const auto& path : options.trusted_certificates)
    if (auto fp = certificate_fingerprint(path); fp && *fp == peer)
      return true;
  return false;
}

sigpipe_guard_counts sigpipe_guards() {
  return {guards_entered.load(), guard_system_calls.load()};
}

bool verify_hook_active() {
  // CAF's libcaf_openssl resolves SSL_CTX_set_verify through the global scope, like this lookup.
  void* bound = dlsym(RTLD_DEFAULT, "SSL_CTX_set_verify");
  return bound == reinterpret_cast<void*>(&::SSL_CTX_set_verify);
}

caf::expected<std::string> make_self_signed(const std::string& common_name,
                                            const std::string& cert_path,
                                            const std::string& key_path, int days) {
  pkey_ptr key{EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")};
  if (!key)
    return invalid("cannot make an ECDSA P-256 key");
  x509_ptr cert{X509_new()};
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial{BN_new(), BN_free};
  if (!cert || !serial || X509_set_version(cert.get(), 2) != 1
      || BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1
      || BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr
      || X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0) == nullptr
      || X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * days) == nullptr
      || X509_set_pubkey(cert.get(), key.get()) != 1)
    return invalid("cannot make the certificate");
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0)
        != 1
      || X509_set_issuer_name(cert.get(), name) != 1)
    return invalid(fmt::format("cannot name the certificate {}", common_name));
  // An end-entity certificate: it signs TLS handshakes as a server and as a client, never other
  // certificates (a leaked key cannot vouch for anything but itself). Peers accept it by its pin
  // alone; OpenSSL still takes a self-signed one as its own anchor (`openssl verify -CAfile`).
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:FALSE"},
                            std::pair{NID_subject_key_identifier, "hash"},
                            std::pair{NID_key_usage, "critical,digitalSignature"},
                            std::pair{NID_ext_key_usage, "serverAuth,clientAuth"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr)
      return invalid("cannot add the certificate's extensions");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0)
    return invalid("cannot sign the certificate");

  // A new file of this process (an old one, or a link put there, is removed first, never
  // followed), mode 0600 from its creation.
  if (::unlink(key_path.c_str()) != 0 && errno != ENOENT)
    return invalid(fmt::format("cannot replace {} ({})", key_path, std::strerror(errno)));
  int fd = ::open(key_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return invalid(fmt::format("cannot write {} ({})", key_path, std::strerror(errno)));
  if (::fchmod(fd, 0600) != 0) {
    ::close(fd);
    return invalid(fmt::format("cannot make {} private ({})", key_path, std::strerror(errno)));
  }
  file_ptr key_file{::fdopen(fd, "w")};
  if (!key_file) {
    ::close(fd);
    return invalid(fmt::format("cannot write {}", key_path));
  }
  if (PEM_write_PrivateKey(key_file.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1
      || std::fflush(key_file.get()) != 0)
    return invalid(fmt::format("cannot write {}", key_path));
  key_file.reset();
  if (::unlink(cert_path.c_str()) != 0 && errno != ENOENT)
    return invalid(fmt::format("cannot replace {} ({})", cert_path, std::strerror(errno)));
  file_ptr cert_file{std::fopen(cert_path.c_str(), "wx")}; // a new file, no link followed
  if (!cert_file || PEM_write_X509(cert_file.get(), cert.get()) != 1
      || std::fflush(cert_file.get()) != 0)
    return invalid(fmt::format("cannot write {} ({})", cert_path, std::strerror(errno)));
  return fingerprint_of(cert.get());
}

caf::error prepare(const tls_options& options) {
  if (auto err = check(options))
    return err;
  // Without the hook the pins could only be trust anchors in a cafile (a certificate one of them
  // signed would pass), no fingerprint could be checked and no TLS 1.2 minimum set: refused.
  if (!verify_hook_active())
    return invalid(fmt::format(
      "{}: TLS node links need microlith's OpenSSL verify hook (pins checked on each link, TLS "
      "1.2 at least), which this program does not have (CAF's OpenSSL module is not bound to "
      "it: the net library must be linked into the program, not loaded with local symbols)",
      options.source));
  auto own = certificate_fingerprint(options.certificate);
  if (!own)
    return own.error();
  locate_caf_openssl();
  auto reg = std::make_shared<registration>();
  reg->source = options.source;
  for (const auto& path : options.trusted_certificates) {
    auto fp = certificate_fingerprint(path);
    if (!fp)
      return fp.error();
    reg->pins.push_back(*fp);
  }
  for (const auto& fp : options.trusted_fingerprints)
    reg->pins.push_back(*parse_fingerprint(fp));
  auto& r = the_registry();
  std::lock_guard<std::mutex> guard{r.mutex};
  r.by_certificate[*own] = reg;
  r.all.push_back(reg);
  return {};
}

} // namespace microlith::cluster::tls

// The I/O calls of node links. OpenSSL's SSL_get_error() reads the thread's error queue, which
// must be empty before each TLS I/O call (SSL_get_error(3)); CAF 0.17.6's session does not empty
// it, and all its sessions run on the middleman's one thread, so a handshake that failed (a
// refused peer, a plaintext one) left errors that made the next SSL_read of a healthy link
// report SSL_ERROR_SSL, and CAF closed that link: the cluster's nodes lost each other over and
// over while a refused peer kept retrying. These four empty the queue first for node links, and
// only for them; every call is forwarded to OpenSSL's own function. For CAF's SIGPIPE guard they
// also mark the thread that does node links' I/O and note a failure that may have raised SIGPIPE.
extern "C" __attribute__((visibility("default"))) int SSL_read(SSL* ssl, void* buf, int num) {
  using namespace microlith::cluster::tls;
  static const auto real = real_function<int (*)(SSL*, void*, int)>("SSL_read");
  return node_link_call(true, real, ssl, buf, num);
}

extern "C" __attribute__((visibility("default"))) int SSL_write(SSL* ssl, const void* buf,
                                                                int num) {
  using namespace microlith::cluster::tls;
  static const auto real = real_function<int (*)(SSL*, const void*, int)>("SSL_write");
  return node_link_call(true, real, ssl, buf, num);
}

extern "C" __attribute__((visibility("default"))) int SSL_accept(SSL* ssl) {
  using namespace microlith::cluster::tls;
  static const auto real = real_function<int (*)(SSL*)>("SSL_accept");
  return node_link_call(false, real, ssl);
}

extern "C" __attribute__((visibility("default"))) int SSL_connect(SSL* ssl) {
  using namespace microlith::cluster::tls;
  static const auto real = real_function<int (*)(SSL*)>("SSL_connect");
  return node_link_call(false, real, ssl);
}

// CAF's SIGPIPE guard (see "CAF's SIGPIPE guard" above): its block and its restore.
extern "C" __attribute__((visibility("default"))) int pthread_sigmask(int how, const sigset_t* set,
                                                                      sigset_t* old) noexcept {
  using namespace microlith::cluster::tls;
  static const auto real =
    real_libc_function<int (*)(int, const sigset_t*, sigset_t*)>("pthread_sigmask");
  auto& state = guard_state;
  if (set != nullptr && from_caf_openssl(__builtin_return_address(0))) {
    if (how == SIG_BLOCK && first_signals(*set) == sigpipe_only) {
      guards_entered.fetch_add(1, std::memory_order_relaxed);
      if (state.holding) {
        if (old != nullptr)
          *old = state.mask;
        return 0;
      }
      guard_system_calls.fetch_add(1, std::memory_order_relaxed);
      if (!state.link_io)
        return real(how, set, old);
      sigset_t before;
      if (int result = real(how, set, &before); result != 0)
        return result;
      state.mask = before;
      sigaddset(&state.mask, SIGPIPE);
      state.holding = true;
      if (old != nullptr)
        *old = state.mask;
      return 0;
    }
    if (how == SIG_SETMASK && old == nullptr) {
      if (state.holding && first_signals(*set) == first_signals(state.mask))
        return 0;
      guard_system_calls.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (state.holding) {
    // SIGPIPE was kept blocked on this thread since CAF's first guard. One that something other
    // than a node link's failed TLS call raised meanwhile (a write to a closed pipe) is pending:
    // taken now, as CAF's guard would have taken it, rather than delivered by this change of the
    // mask at an unrelated moment (its default action ends the process).
    static const auto real_wait =
      real_libc_function<int (*)(const sigset_t*, siginfo_t*, const struct timespec*)>(
        "sigtimedwait");
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    const timespec now{0, 0};
    const int saved_errno = errno;
    while (real_wait(&pipe, nullptr, &now) > 0) {
    }
    errno = saved_errno;
    state.holding = false;
  }
  return real(how, set, old);
}

// CAF's SIGPIPE guard: taking a SIGPIPE the TLS call raised.
extern "C" __attribute__((visibility("default"))) int
sigtimedwait(const sigset_t* set, siginfo_t* info, const struct timespec* timeout) {
  using namespace microlith::cluster::tls;
  static const auto real =
    real_libc_function<int (*)(const sigset_t*, siginfo_t*, const struct timespec*)>(
      "sigtimedwait");
  if (from_caf_openssl(__builtin_return_address(0))) {
    auto& state = guard_state;
    if (state.holding && !state.sigpipe_possible && first_signals(*set) == sigpipe_only
        && timeout != nullptr && timeout->tv_sec == 0 && timeout->tv_nsec == 0) {
      errno = EAGAIN; // what the C library answers when no SIGPIPE is pending
      return -1;
    }
    state.sigpipe_possible = false;
    guard_system_calls.fetch_add(1, std::memory_order_relaxed);
  }
  return real(set, info, timeout);
}

// The hook. CAF's OpenSSL session (libcaf_openssl) calls SSL_CTX_set_verify through the dynamic
// linker, which binds it to this definition (exported by the program: net/CMakeLists.txt) ahead
// of libssl's. Every call is forwarded unchanged to OpenSSL's own function, except CAF's exact
// call (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, no callback) on a context whose
// certificate is a cluster certificate registered by tls::prepare(): that one gets the pin check
// as its callback and a minimum of TLS 1.2. The gateway's and the HTTP client's contexts, and any
// other, pass through untouched.
extern "C" __attribute__((visibility("default"))) void SSL_CTX_set_verify(SSL_CTX* ctx, int mode,
                                                                          SSL_verify_cb callback) {
  using namespace microlith::cluster::tls;
  auto real = real_set_verify();
  if (ctx != nullptr && callback == nullptr
      && mode == (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT)) {
    if (X509* own = SSL_CTX_get0_certificate(ctx); own != nullptr) {
      auto fp = fingerprint_of(own);
      const registration* reg = nullptr;
      {
        auto& r = the_registry();
        std::lock_guard<std::mutex> guard{r.mutex};
        if (auto i = r.by_certificate.find(fp); i != r.by_certificate.end())
          reg = i->second.get();
      }
      if (reg != nullptr) {
        SSL_CTX_set_ex_data(ctx, registration_index(), const_cast<registration*>(reg));
        real(ctx, mode, verify_peer);
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        return;
      }
    }
  }
  real(ctx, mode, callback);
}
