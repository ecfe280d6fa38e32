#include "common/jwt.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

#include "common/strings.h"
#include "skycore/error.h"

namespace skycore::jwt {
namespace {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

}  // namespace

std::string Base64Url(std::string_view bytes) {
  std::string text = strings::EncodeBase64(bytes);
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

std::string SignRs256(nlohmann::json header, const nlohmann::json& claims,
                      std::string_view private_key_pem) {
  std::unique_ptr<BIO, BioDeleter> bio(
      BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size())));
  std::unique_ptr<EVP_PKEY, KeyDeleter> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key || EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
    throw InvalidCloudCredentials("the key is not an unencrypted RSA private key in PEM (RS256)");
  }
  header["alg"] = "RS256";
  header["typ"] = "JWT";
  const std::string input = Base64Url(header.dump()) + "." + Base64Url(claims.dump());
  std::unique_ptr<EVP_MD_CTX, MdDeleter> context(EVP_MD_CTX_new());
  size_t size = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(context.get(), nullptr, &size, data, input.size()) != 1) {
    throw InvalidCloudCredentials("the RSA key cannot sign (OpenSSL)");
  }
  std::string signature(size, '\0');
  if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &size, data,
                     input.size()) != 1) {
    throw InvalidCloudCredentials("the RSA key cannot sign (OpenSSL)");
  }
  signature.resize(size);
  return input + "." + Base64Url(signature);
}

}  // namespace skycore::jwt
