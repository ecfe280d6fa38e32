#include "infra/kubernetes/quantity.h"

#include <fmt/format.h>

#include <cmath>
#include <string>

#include "common/strings.h"
#include "skycore/error.h"

namespace skycore::kubernetes {

double ParseQuantity(std::string_view text) {
  std::string_view trimmed = strings::Trim(text);
  // Longest suffix first: "Ki" before "k"... binary suffixes end in 'i'.
  struct Suffix {
    std::string_view text;
    double factor;
  };
  static constexpr Suffix kSuffixes[] = {
      {"Ki", 1024.0},
      {"Mi", 1024.0 * 1024},
      {"Gi", 1024.0 * 1024 * 1024},
      {"Ti", 1024.0 * 1024 * 1024 * 1024},
      {"Pi", 1024.0 * 1024 * 1024 * 1024 * 1024},
      {"Ei", 1024.0 * 1024 * 1024 * 1024 * 1024 * 1024},
      {"n", 1e-9},
      {"u", 1e-6},
      {"m", 1e-3},
      {"k", 1e3},
      {"M", 1e6},
      {"G", 1e9},
      {"T", 1e12},
      {"P", 1e15},
      {"E", 1e18},
  };
  double factor = 1;
  std::string_view number = trimmed;
  for (const auto& suffix : kSuffixes) {
    if (number.size() > suffix.text.size() && number.ends_with(suffix.text)) {
      number.remove_suffix(suffix.text.size());
      factor = suffix.factor;
      break;
    }
  }
  double value = 0;
  // strings::ParseDouble accepts exponents ("1e3") as Kubernetes does.
  if (number.empty() || !strings::ParseDouble(number, value) || !std::isfinite(value)) {
    throw InvalidSkyPilotConfigError(
        fmt::format("'{}' is not a Kubernetes quantity (e.g. \"500m\", \"16Gi\", \"2\")", text));
  }
  return value * factor;
}

}  // namespace skycore::kubernetes
