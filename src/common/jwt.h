// JSON Web Tokens as cloud identity services take them for client
// assertions: RS256, signed here with OpenSSL (Entra ID's certificate
// credentials, Google's service-account keys).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace skycore::jwt {

// base64url without padding (RFC 7515).
std::string Base64Url(std::string_view bytes);

// `header.claims.signature` with "alg": "RS256" and "typ": "JWT" added to
// `header`, signed with the RSA private key in `private_key_pem` (PKCS#1 or
// PKCS#8, unencrypted). Throws InvalidCloudCredentials when the PEM holds no
// RSA private key or the key cannot sign.
std::string SignRs256(nlohmann::json header, const nlohmann::json& claims,
                      std::string_view private_key_pem);

}  // namespace skycore::jwt
