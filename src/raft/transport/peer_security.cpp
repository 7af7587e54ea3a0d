// TLS 1.3 contexts for Raft peer links: certificate and PSK modes, and the
// checks that tie a connection to a member's id (see raft/peer_security.h).
#include "raft/peer_security.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

namespace raft {
namespace {

// HKDF inputs (RFC 5869 §2): the salt and info make the PSK specific to this
// use, so the same secret used elsewhere gives an unrelated key.
constexpr std::string_view kPskSalt = "dns-node cluster secret";
constexpr std::string_view kPskInfo = "dns-node raft peer link, TLS 1.3 external PSK, v1";
// The key material of --insecure-peers: public on purpose.
constexpr std::string_view kInsecureIkm = "dns-node --insecure-peers: this key is public and protects nothing";
constexpr std::size_t kPskSize = 32;
// RFC 8446 §B.4: TLS_AES_128_GCM_SHA256. Every suite offered in PSK mode
// hashes with SHA-256, the PSK's hash.
constexpr unsigned char kPskCipher[] = {0x13, 0x01};
constexpr const char* kPskSuites = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256";
// Node names are short; a longer PSK identity is refused unread.
constexpr std::size_t kMaxIdentity = 255;
// A node certificate plus an intermediate or two; longer lists are refused
// before they are parsed.
constexpr long kMaxCertList = 16 * 1024;

// The most recent OpenSSL error as text, and the queue cleared.
std::string openssl_error() {
  unsigned long e = ERR_peek_last_error();
  std::string out;
  if (e == 0) {
    out = "unknown OpenSSL error";
  } else if (const char* reason = ERR_reason_error_string(e)) {
    out = reason;
  } else {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out = buf;
  }
  ERR_clear_error();
  return out;
}

util::Error file_error(const char* field, const std::string& path, const std::string& why) {
  return util::make_error(std::string(field) + ": " + path + ": " + why);
}

// A missing or unreadable file is reported with the system's reason, which
// says more than OpenSSL's "system lib".
util::Result<void> readable(const char* field, const std::string& path) {
  std::ifstream f(path);
  if (!f) return file_error(field, path, std::string("cannot read: ") + std::strerror(errno));
  return {};
}

int ssl_slot() {
  static const int slot = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return slot;
}

int ctx_slot() {
  static const int slot = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return slot;
}

// Bytes from an unauthenticated client, made safe for a log line.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return out;
}

bool names(X509* cert, const std::string& name) {
  return X509_check_host(cert, name.data(), name.size(), X509_CHECK_FLAG_NO_WILDCARDS, nullptr) == 1;
}

std::string subject_of(X509* cert) {
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  return buf;
}

util::Result<std::array<unsigned char, kPskSize>> hkdf_sha256(std::string_view ikm) {
  std::array<unsigned char, kPskSize> out{};
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) return util::make_error("peer links: HKDF is not available: " + openssl_error());
  EVP_KDF_CTX* kctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (kctx == nullptr) return util::make_error("peer links: " + openssl_error());
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(kPskSalt.data()), kPskSalt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(kPskInfo.data()), kPskInfo.size()),
      OSSL_PARAM_construct_end()};
  int ok = EVP_KDF_derive(kctx, out.data(), out.size(), params);
  EVP_KDF_CTX_free(kctx);
  if (ok <= 0) return util::make_error("peer links: cannot derive the PSK: " + openssl_error());
  return out;
}

}  // namespace

// OpenSSL calls these with C signatures; they reach the C++ objects through
// ex_data slots.
struct PeerSecurityCallbacks {
  static PeerSecurity* of(SSL* ssl) {
    return static_cast<PeerSecurity*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_slot()));
  }

  // Client: offers the PSK under this node's name (RFC 8446 §4.2.11).
  static int use_psk(SSL* ssl, const EVP_MD* md, const unsigned char** id, size_t* idlen, SSL_SESSION** sess) {
    PeerSecurity* self = of(ssl);
    *id = nullptr;
    *idlen = 0;
    *sess = nullptr;
    if (self == nullptr || self->psk_session_ == nullptr) return 0;
    // After a HelloRetryRequest the server has fixed the hash; ours is SHA-256.
    const EVP_MD* ours = SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(self->psk_session_));
    if (md != nullptr && (ours == nullptr || EVP_MD_get_type(md) != EVP_MD_get_type(ours))) return 1;
    SSL_SESSION_up_ref(self->psk_session_);
    *sess = self->psk_session_;
    *id = reinterpret_cast<const unsigned char*>(self->own_name_.data());
    *idlen = self->own_name_.size();
    return 1;
  }

  // Server: the identity must name a member; the binder (checked by OpenSSL
  // right after) proves the client holds the key.
  static int find_psk(SSL* ssl, const unsigned char* identity, size_t len, SSL_SESSION** sess) {
    *sess = nullptr;
    PeerSecurity* self = of(ssl);
    auto* hs = static_cast<ServerHandshake*>(SSL_get_ex_data(ssl, ssl_slot()));
    if (self == nullptr || hs == nullptr || self->psk_session_ == nullptr) return 0;
    if (len > kMaxIdentity) {
      hs->refusal = "its PSK identity is " + std::to_string(len) + " bytes long";
      return 0;
    }
    hs->psk_identity.assign(reinterpret_cast<const char*>(identity), len);
    const std::string& claimed = hs->psk_identity;
    NodeId id = hs->identify ? hs->identify([&](const std::string& name) { return name == claimed; }) : kNoNode;
    if (id == kNoNode) {
      hs->refusal = "its PSK identity '" + printable(claimed) + "' names no current member";
      return 0;
    }
    hs->peer = id;
    SSL_SESSION_up_ref(self->psk_session_);
    *sess = self->psk_session_;
    return 1;
  }

  // Server, certificate mode: the chain must verify, and the leaf must name
  // exactly one current member.
  static int verify_client(int preverified, X509_STORE_CTX* store) {
    auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    auto* hs = ssl != nullptr ? static_cast<ServerHandshake*>(SSL_get_ex_data(ssl, ssl_slot())) : nullptr;
    if (hs == nullptr) return 0;
    if (!preverified) {
      if (hs->refusal.empty()) {
        hs->refusal = std::string("its certificate does not verify: ") +
                      X509_verify_cert_error_string(X509_STORE_CTX_get_error(store));
      }
      return 0;
    }
    if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
    X509* cert = X509_STORE_CTX_get_current_cert(store);
    NodeId id = hs->identify ? hs->identify([&](const std::string& name) { return names(cert, name); }) : kNoNode;
    if (id == kNoNode) {
      hs->refusal = "its certificate (" + subject_of(cert) + ") names no current member, or several";
      X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
      return 0;
    }
    hs->peer = id;
    return 1;
  }
};

std::string peer_credential_name(std::string_view node_label) { return "dns-node-" + std::string(node_label); }

PeerSecurity::PeerSecurity(Mode mode, std::string own_name)
    : mode_(mode), own_name_(std::move(own_name)), ctx_(boost::asio::ssl::context::tls) {
  SSL_CTX* ctx = ctx_.native_handle();
  // TLS 1.3 only; no tickets, cache or resumption: every connection runs a
  // full handshake, so nothing recorded from one connection opens another.
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_max_early_data(ctx, 0);
  // Idle links give their record buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_max_cert_list(ctx, kMaxCertList);
  SSL_CTX_set_ex_data(ctx, ctx_slot(), this);
}

PeerSecurity::~PeerSecurity() {
  if (psk_session_ != nullptr) SSL_SESSION_free(psk_session_);
}

util::Result<void> PeerSecurity::use_psk(std::string_view ikm) {
  auto key = hkdf_sha256(ikm);
  if (!key) return key.error();
  SSL_CTX* ctx = ctx_.native_handle();
  if (SSL_CTX_set_ciphersuites(ctx, kPskSuites) != 1) return util::make_error("peer links: " + openssl_error());
  SSL* probe = SSL_new(ctx);  // SSL_CIPHER_find needs an SSL
  if (probe == nullptr) return util::make_error("peer links: " + openssl_error());
  const SSL_CIPHER* cipher = SSL_CIPHER_find(probe, kPskCipher);
  SSL_free(probe);
  psk_session_ = SSL_SESSION_new();
  if (cipher == nullptr || psk_session_ == nullptr ||
      SSL_SESSION_set1_master_key(psk_session_, key->data(), key->size()) != 1 ||
      SSL_SESSION_set_cipher(psk_session_, cipher) != 1 ||
      SSL_SESSION_set_protocol_version(psk_session_, TLS1_3_VERSION) != 1) {
    return util::make_error("peer links: cannot set up the PSK: " + openssl_error());
  }
  SSL_CTX_set_psk_use_session_callback(ctx, &PeerSecurityCallbacks::use_psk);
  SSL_CTX_set_psk_find_session_callback(ctx, &PeerSecurityCallbacks::find_psk);
  // No certificates: the PSK binder and Finished messages authenticate both ends.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  return {};
}

util::Result<std::shared_ptr<PeerSecurity>> PeerSecurity::with_secret(std::string_view secret, std::string own_name) {
  if (secret.empty()) return util::make_error("peer links: the cluster secret is empty");
  std::shared_ptr<PeerSecurity> s(new PeerSecurity(Mode::SharedSecret, std::move(own_name)));
  if (auto r = s->use_psk(secret); !r) return r.error();
  return s;
}

util::Result<std::shared_ptr<PeerSecurity>> PeerSecurity::insecure(std::string own_name) {
  std::shared_ptr<PeerSecurity> s(new PeerSecurity(Mode::Insecure, std::move(own_name)));
  if (auto r = s->use_psk(kInsecureIkm); !r) return r.error();
  return s;
}

util::Result<std::shared_ptr<PeerSecurity>> PeerSecurity::with_certificates(const PeerTlsFiles& files,
                                                                            std::string own_name) {
  std::shared_ptr<PeerSecurity> s(new PeerSecurity(Mode::Certificates, std::move(own_name)));
  SSL_CTX* ctx = s->ctx_.native_handle();
  ERR_clear_error();
  if (auto r = readable("cluster.tls.ca", files.ca); !r) return r.error();
  if (SSL_CTX_load_verify_locations(ctx, files.ca.c_str(), nullptr) != 1) {
    return file_error("cluster.tls.ca", files.ca, "not a PEM CA certificate: " + openssl_error());
  }
  if (auto r = readable("cluster.tls.cert", files.cert); !r) return r.error();
  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str()) != 1) {
    return file_error("cluster.tls.cert", files.cert, "not a PEM certificate: " + openssl_error());
  }
  if (auto r = readable("cluster.tls.key", files.key); !r) return r.error();
  if (SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return file_error("cluster.tls.key", files.key, "not a PEM private key: " + openssl_error());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return file_error("cluster.tls.key", files.key, "does not belong to the certificate in " + files.cert);
  }
  // Check the node's own certificate the way its peers will, so that a
  // mistake stops this node at start instead of every handshake later.
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (!names(cert, s->own_name_)) {
    return file_error("cluster.tls.cert", files.cert,
                      "does not name this node: it must carry the DNS name " + s->own_name_ +
                          " (subject alternative name, or CN when it has none); it is " + subject_of(cert));
  }
  if (X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0) != 1 ||
      X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0) != 1) {
    return file_error("cluster.tls.cert", files.cert,
                      "may not serve as both TLS client and server (its extendedKeyUsage must allow serverAuth "
                      "and clientAuth, or be absent)");
  }
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx, &chain);
  X509_STORE_CTX* check = X509_STORE_CTX_new();
  if (check == nullptr || X509_STORE_CTX_init(check, SSL_CTX_get_cert_store(ctx), cert, chain) != 1) {
    X509_STORE_CTX_free(check);
    return util::make_error("peer links: " + openssl_error());
  }
  int ok = X509_verify_cert(check);
  int err = X509_STORE_CTX_get_error(check);
  X509_STORE_CTX_free(check);
  if (ok != 1) {
    return file_error("cluster.tls.cert", files.cert,
                      std::string("does not verify under the CA in ") + files.ca + ": " +
                          X509_verify_cert_error_string(err));
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  ERR_clear_error();
  return s;
}

void PeerSecurity::prepare_client(SSL* ssl, const std::string& expected_name) const {
  if (mode_ != Mode::Certificates || expected_name.empty()) return;
  // RFC 6125-style name check of the server's certificate, done by OpenSSL
  // during verification.
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_WILDCARDS);
  SSL_set1_host(ssl, expected_name.c_str());
}

void PeerSecurity::prepare_server(SSL* ssl, ServerHandshake* hs) const {
  SSL_set_ex_data(ssl, ssl_slot(), hs);
  if (mode_ == Mode::Certificates) {
    SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, &PeerSecurityCallbacks::verify_client);
  }
}

bool PeerSecurity::client_proves(SSL* ssl, const ServerHandshake& hs, const std::string& name) const {
  if (name.empty()) return false;
  if (mode_ != Mode::Certificates) return hs.psk_identity == name;
  X509* cert = SSL_get0_peer_certificate(ssl);
  return cert != nullptr && names(cert, name);
}

}  // namespace raft
