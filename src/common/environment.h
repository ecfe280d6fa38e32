// Environment variables as the code that reads them sees them: through a
// Lookup, so that tests hand in a map and the infras the process's own.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace skycore::env {

// The value of a variable; nullopt when it is not set.
using Lookup = std::function<std::optional<std::string>(const std::string&)>;

// The process's environment (getenv).
std::optional<std::string> Process(const std::string& name);

// `variable`'s value when `env` is set and the value is not empty; `fallback`
// otherwise (e.g. a cloud's endpoint: the real one unless a test points
// skycore at its fake).
std::string ValueOr(const Lookup& env, const std::string& variable, const std::string& fallback);

}  // namespace skycore::env
