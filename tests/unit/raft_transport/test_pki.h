// Test certificates made with OpenSSL in memory and written as PEM files: a
// cluster CA and node certificates, for the peer-link tests.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "raft/peer_security.h"

namespace raft::testing {

/// A CA that issues node certificates into a directory.
class TestPki {
 public:
  /// Creates the CA ("<name>" as its CN) and writes <dir>/<name>.pem.
  TestPki(std::filesystem::path dir, std::string name = "test-ca") : dir_(std::move(dir)), name_(std::move(name)) {
    std::filesystem::create_directories(dir_);
    key_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    cert_ = make(key_, name_, nullptr, nullptr, {"basicConstraints", "critical,CA:TRUE"},
                 {"keyUsage", "critical,keyCertSign,cRLSign"}, "", 86400);
    ca_path_ = (dir_ / (name_ + ".pem")).string();
    write_cert(cert_, ca_path_);
  }
  ~TestPki() {
    X509_free(cert_);
    EVP_PKEY_free(key_);
  }
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  const std::string& ca_path() const { return ca_path_; }

  /// A node certificate with these DNS names (e.g. "DNS:dns-node-1"), valid
  /// for `seconds` from an hour ago, with its key; file names from `file`.
  PeerTlsFiles issue(const std::string& file, const std::string& san, long seconds = 86400,
                     const std::string& eku = "") {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    X509* cert = make(key, file, cert_, key_, {"basicConstraints", "CA:FALSE"}, {"subjectAltName", san}, eku,
                      seconds);
    PeerTlsFiles out{ca_path_, (dir_ / (file + ".crt")).string(), (dir_ / (file + ".key")).string()};
    write_cert(cert, out.cert);
    FILE* f = std::fopen(out.key.c_str(), "w");
    if (f == nullptr || PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
      throw std::runtime_error("cannot write " + out.key);
    }
    std::fclose(f);
    X509_free(cert);
    EVP_PKEY_free(key);
    return out;
  }

 private:
  using Ext = std::pair<std::string, std::string>;

  X509* make(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key, const Ext& a, const Ext& b,
             const std::string& eku, long seconds) {
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial_);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), seconds - 3600);
    X509_set_pubkey(x, key);
    X509_NAME* subject = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                               -1, 0);
    X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer) : subject);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : x, x, nullptr, nullptr, 0);
    std::vector<Ext> exts{a, b};
    if (!eku.empty()) exts.emplace_back("extendedKeyUsage", eku);
    for (const auto& [name, value] : exts) {
      X509_EXTENSION* e = X509V3_EXT_conf(nullptr, &ctx, name.c_str(), value.c_str());
      if (e == nullptr) throw std::runtime_error("bad extension " + name + "=" + value);
      X509_add_ext(x, e, -1);
      X509_EXTENSION_free(e);
    }
    X509_sign(x, issuer_key != nullptr ? issuer_key : key, EVP_sha256());
    return x;
  }

  static void write_cert(X509* cert, const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr || PEM_write_X509(f, cert) != 1) throw std::runtime_error("cannot write " + path);
    std::fclose(f);
  }

  std::filesystem::path dir_;
  std::string name_;
  std::string ca_path_;
  EVP_PKEY* key_ = nullptr;
  X509* cert_ = nullptr;
  long serial_ = 0;
};

}  // namespace raft::testing
