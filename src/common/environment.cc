#include "common/environment.h"

#include <cstdlib>

namespace skycore::env {

std::optional<std::string> Process(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::string ValueOr(const Lookup& env, const std::string& variable, const std::string& fallback) {
  if (!env) return fallback;
  std::optional<std::string> value = env(variable);
  return value && !value->empty() ? *std::move(value) : fallback;
}

}  // namespace skycore::env
