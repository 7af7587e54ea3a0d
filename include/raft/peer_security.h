// TLS 1.3 for Raft peer links (OpenSSL through Boost.Asio): the context every
// link of one node shares, in one of three modes, and how a node proves its id.
//
// Certificates (cluster.tls): every node holds a certificate signed by the
// cluster CA that names it "dns-node-<id>" (a DNS subject alternative name,
// or the CN when the certificate has no DNS names; no wildcards). Both ends
// present one. A connecting node accepts only the peer it meant to reach; an
// accepting node learns from the certificate which node connected, and
// refuses a name that is not a current member.
//
// Shared secret (cluster.secret): both ends prove they hold the secret through
// a TLS 1.3 external PSK (RFC 8446 §2.2, §4.2.11) derived from it with HKDF
// (RFC 5869), with an (EC)DHE exchange on top for forward secrecy. The
// connecting node sends its name as the PSK identity; the accepting node
// refuses a name that is not a current member. Every holder of the secret can
// claim any name: this mode proves membership of the cluster, not which node.
//
// Insecure (--insecure-peers, no secret): the same PSK handshake under a key
// derived from a public constant. Links are encrypted, but anyone who can
// reach the port can complete the handshake: nothing is authenticated.
//
// In every mode a link is TLS 1.3 only, with no session tickets, no
// resumption and no early data: each connection runs a fresh handshake with
// fresh randoms, so no record of one connection is accepted on another.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/ssl/context.hpp>

#include "raft/types.h"
#include "util/result.h"

namespace raft {

/// The name a node proves on peer links: "dns-node-<label>", where the label
/// is the node's id in the configuration ("0", "1", ...).
std::string peer_credential_name(std::string_view node_label);

/// PEM files of certificate mode: the cluster CA, this node's certificate
/// (optionally followed by intermediates) and its private key.
struct PeerTlsFiles {
  std::string ca;
  std::string cert;
  std::string key;
};

/// What a server-side handshake learns about the connecting node. The
/// transport owns one per inbound connection; it must outlive the handshake.
struct ServerHandshake {
  /// Returns the member whose credential name `proves` accepts, or kNoNode
  /// to refuse the connection. Called during the handshake.
  std::function<NodeId(const std::function<bool(const std::string& name)>& proves)> identify;
  NodeId peer = kNoNode;      ///< set by identify's answer
  std::string psk_identity;   ///< the identity a PSK client claimed
  std::string refusal;        ///< why the handshake was refused, for the log (may be empty)
};

/// The TLS settings of one node's peer links. Shared by every connection.
class PeerSecurity {
 public:
  enum class Mode : uint8_t {
    Certificates,  ///< mutual certificates from the cluster CA: each node proves its own id
    SharedSecret,  ///< external PSK from the cluster secret: proves membership, not which node
    Insecure,      ///< PSK from a public constant (--insecure-peers): proves nothing
  };

  /// Loads and checks the files: the key must match the certificate, the
  /// certificate must name `own_name` and be valid under the CA. Errors name
  /// the config field and the file ("cluster.tls.cert: ...").
  static util::Result<std::shared_ptr<PeerSecurity>> with_certificates(const PeerTlsFiles& files,
                                                                       std::string own_name);
  /// PSK mode from the cluster secret (any non-empty string; the config
  /// checks its length).
  static util::Result<std::shared_ptr<PeerSecurity>> with_secret(std::string_view secret, std::string own_name);
  /// PSK mode under a public key, for --insecure-peers.
  static util::Result<std::shared_ptr<PeerSecurity>> insecure(std::string own_name);

  ~PeerSecurity();
  PeerSecurity(const PeerSecurity&) = delete;
  PeerSecurity& operator=(const PeerSecurity&) = delete;

  Mode mode() const { return mode_; }
  const std::string& own_name() const { return own_name_; }
  boost::asio::ssl::context& context() { return ctx_; }

  /// Sets up the client end of a connection to the node named
  /// `expected_name`. In certificate mode the server's certificate must name
  /// it; an empty name accepts any node certificate of the cluster CA (the
  /// --join address, whose id is not known yet).
  void prepare_client(SSL* ssl, const std::string& expected_name) const;

  /// Sets up the server end of a connection: `hs` decides who may connect.
  void prepare_server(SSL* ssl, ServerHandshake* hs) const;

  /// After a server-side handshake: whether the client's credential (its
  /// certificate, or its PSK identity) carries `name`.
  bool client_proves(SSL* ssl, const ServerHandshake& hs, const std::string& name) const;

 private:
  PeerSecurity(Mode mode, std::string own_name);
  util::Result<void> use_psk(std::string_view ikm);

  Mode mode_;
  std::string own_name_;
  boost::asio::ssl::context ctx_;
  SSL_SESSION* psk_session_ = nullptr;  // the external PSK, handed to OpenSSL by reference

  friend struct PeerSecurityCallbacks;
};

}  // namespace raft
