#include "common/rpc/dev_certs.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

absl::Status OpenSslError(const std::string& what) {
  char buf[256];
  const unsigned long e = ERR_get_error();
  ERR_error_string_n(e, buf, sizeof(buf));
  return absl::InternalError(absl::StrCat("certs: ", what, ": ", e != 0 ? buf : "unknown OpenSSL error"));
}

absl::StatusOr<Key> NewKey() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (k == nullptr) return OpenSslError("generating a P-256 key");
  return Key(k);
}

bool IsIpAddress(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return OpenSslError(absl::StrCat("extension ", OBJ_nid2sn(nid), " = ", value));
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return OpenSslError(absl::StrCat("adding extension ", OBJ_nid2sn(nid)));
  return absl::OkStatus();
}

struct CertRequest {
  std::string common_name;
  bool is_ca = false;
  std::string key_usage;
  std::string ext_key_usage;      // "" for none
  std::string subject_alt_names;  // "" for none
};

// Makes a certificate for `key`, signed by (issuer, issuer_key), or
// self-signed when issuer is null.
absl::StatusOr<Cert> MakeCert(const CertRequest& req, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, int days) {
  Cert cert(X509_new());
  if (cert == nullptr) return OpenSslError("X509_new");
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1) return OpenSslError("random serial");
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // tolerate small clock skew
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("ssd development"), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(req.common_name.c_str()),
                             -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_basic_constraints,
                               req.is_ca ? "critical,CA:TRUE,pathlen:0" : "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_key_usage, req.key_usage));
  if (!req.ext_key_usage.empty()) {
    RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_ext_key_usage, req.ext_key_usage));
  }
  RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash"));
  if (issuer != nullptr) {
    RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_authority_key_identifier, "keyid:always"));
  }
  if (!req.subject_alt_names.empty()) {
    RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_subject_alt_name, req.subject_alt_names));
  }
  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
    return OpenSslError(absl::StrCat("signing the certificate of ", req.common_name));
  }
  return cert;
}

absl::StatusOr<std::string> CertPem(X509* cert) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(bio.get(), cert) != 1) return OpenSslError("PEM-encoding a certificate");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n);
}

absl::StatusOr<std::string> KeyPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("PEM-encoding a private key");
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n);
}

absl::Status WritePrivate(const std::string& path, const std::string& contents) {
  // Created 0600 from the start, so the key is never readable by others,
  // not even for a moment. (umask is process-wide; `ssd certs` is one thread.)
  const mode_t old = umask(077);
  const absl::Status s = WriteFileAtomically(path, contents);
  umask(old);
  RETURN_IF_ERROR(s);
  if (chmod(path.c_str(), 0600) != 0) return absl::InternalError(absl::StrCat("chmod 0600 ", path));
  return absl::OkStatus();
}

}  // namespace

absl::Status DevCertsOptions::Validate() const {
  if (out_dir.empty()) return absl::InvalidArgumentError("--out: no folder given");
  if (days < 1 || days > 3650)
    return absl::InvalidArgumentError(absl::StrCat("--days: ", days, " is not in [1, 3650]"));
  for (const std::string& h : hosts) {
    if (h.empty() || h.find_first_of(",: \t") != std::string::npos) {
      if (!IsIpAddress(h)) return absl::InvalidArgumentError(absl::StrCat("--host: \"", h, "\" is not a host name"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RandomToken() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof(raw)) != 1) return OpenSslError("random token");
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : raw) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      out += kAlphabet[(acc >> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
  return out;
}

absl::Status MakeDevCerts(const DevCertsOptions& o) {
  RETURN_IF_ERROR(o.Validate());
  RETURN_IF_ERROR(MakeDirs(o.out_dir));
  const char* const kFiles[] = {"ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key", "token"};
  if (!o.force) {
    for (const char* f : kFiles) {
      const std::string p = JoinPath(o.out_dir, f);
      if (PathExists(p)) {
        return absl::AlreadyExistsError(absl::StrCat(p, " exists; pass --force to replace the whole set"));
      }
    }
  }
  ASSIGN_OR_RETURN(Key ca_key, NewKey());
  CertRequest ca_req{"ssd development CA", true, "critical,keyCertSign,cRLSign", "", ""};
  ASSIGN_OR_RETURN(Cert ca, MakeCert(ca_req, ca_key.get(), nullptr, nullptr, o.days));

  std::vector<std::string> sans = {"DNS:localhost", "IP:127.0.0.1", "IP:::1"};
  for (const std::string& h : o.hosts) sans.push_back(absl::StrCat(IsIpAddress(h) ? "IP:" : "DNS:", h));
  ASSIGN_OR_RETURN(Key server_key, NewKey());
  CertRequest server_req{"ssd-server", false, "critical,digitalSignature,keyEncipherment", "serverAuth",
                         absl::StrJoin(sans, ",")};
  ASSIGN_OR_RETURN(Cert server, MakeCert(server_req, server_key.get(), ca.get(), ca_key.get(), o.days));

  ASSIGN_OR_RETURN(Key client_key, NewKey());
  CertRequest client_req{"ssd-client", false, "critical,digitalSignature,keyEncipherment", "clientAuth", ""};
  ASSIGN_OR_RETURN(Cert client, MakeCert(client_req, client_key.get(), ca.get(), ca_key.get(), o.days));

  ASSIGN_OR_RETURN(std::string ca_pem, CertPem(ca.get()));
  ASSIGN_OR_RETURN(std::string ca_key_pem, KeyPem(ca_key.get()));
  ASSIGN_OR_RETURN(std::string server_pem, CertPem(server.get()));
  ASSIGN_OR_RETURN(std::string server_key_pem, KeyPem(server_key.get()));
  ASSIGN_OR_RETURN(std::string client_pem, CertPem(client.get()));
  ASSIGN_OR_RETURN(std::string client_key_pem, KeyPem(client_key.get()));
  ASSIGN_OR_RETURN(std::string token, RandomToken());
  RETURN_IF_ERROR(WriteFileAtomically(JoinPath(o.out_dir, "ca.pem"), ca_pem));
  RETURN_IF_ERROR(WritePrivate(JoinPath(o.out_dir, "ca.key"), ca_key_pem));
  RETURN_IF_ERROR(WriteFileAtomically(JoinPath(o.out_dir, "server.pem"), server_pem));
  RETURN_IF_ERROR(WritePrivate(JoinPath(o.out_dir, "server.key"), server_key_pem));
  RETURN_IF_ERROR(WriteFileAtomically(JoinPath(o.out_dir, "client.pem"), client_pem));
  RETURN_IF_ERROR(WritePrivate(JoinPath(o.out_dir, "client.key"), client_key_pem));
  RETURN_IF_ERROR(WritePrivate(JoinPath(o.out_dir, "token"), token + "\n"));
  return absl::OkStatus();
}

}  // namespace ssd
