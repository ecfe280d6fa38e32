// Readers of single resource values (see resource_values.h).
#include "yaml/resource_values.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "common/strings.h"

namespace skycore::yamlio {
namespace {

// Memory-size units as SkyPilot's MEMORY_SIZE_PATTERN accepts them, in GiB.
bool UnitToGib(std::string_view unit, double& gib) {
  const std::string u = strings::Lower(unit);
  if (u.empty() || u == "gb" || u == "gi")
    gib = 1;
  else if (u == "kb" || u == "ki")
    gib = 1.0 / (1024 * 1024);
  else if (u == "mb" || u == "mi")
    gib = 1.0 / 1024;
  else if (u == "tb" || u == "ti")
    gib = 1024;
  else if (u == "pb" || u == "pi")
    gib = 1024 * 1024;
  else
    return false;
  return true;
}

}  // namespace

Quantity ReadQuantity(Reader& r, const YAML::Node& node, bool is_memory) {
  const std::string_view help = is_memory ? kMemoryHelp : kCpusHelp;
  std::string text = r.ScalarText(node, help);
  std::string_view t = strings::Trim(text);
  Quantity q;
  if (!t.empty() && t.back() == '+') {
    q.or_more = true;
    t.remove_suffix(1);
  } else if (is_memory && !t.empty() && (t.back() == 'x' || t.back() == 'X')) {
    q.per_cpu = true;
    t.remove_suffix(1);
  }
  double scale = 1;
  if (is_memory && !q.per_cpu) {
    size_t unit_start = t.size();
    while (unit_start > 0 && std::isalpha(static_cast<unsigned char>(t[unit_start - 1]))) {
      --unit_start;
    }
    if (!UnitToGib(t.substr(unit_start), scale)) {
      r.Fail(node,
             fmt::format("invalid memory '{}': unknown unit '{}'; expected {}.", text,
                         t.substr(unit_start), help),
             {"32", "32+", "32GB"});
    }
    t = t.substr(0, unit_start);
  }
  double parsed;
  if (strings::ParseDouble(t, parsed) && !(parsed > 0)) {
    r.Fail(node,
           fmt::format("invalid {} '{}': it must be positive; expected {}.",
                       is_memory ? "memory" : "cpus", text, help),
           is_memory ? std::vector<std::string>{"32", "32+"} : std::vector<std::string>{"4", "4+"});
  }
  if (!strings::ParseDouble(t, q.value) || !(q.value > 0)) {
    r.Fail(node,
           fmt::format("invalid {} '{}': expected {}.", is_memory ? "memory" : "cpus", text, help),
           is_memory ? std::vector<std::string>{"32", "32+"} : std::vector<std::string>{"4", "4+"});
  }
  q.value *= scale;
  return q;
}

int ReadSizeGb(Reader& r, const YAML::Node& node) {
  constexpr std::string_view kHelp = "a size in GB such as 256, or '256GB' / '1TB'";
  if (node.IsScalar() && ResolveScalar(node) == ScalarKind::kInt) {
    return static_cast<int>(std::clamp<long long>(r.Int(node), -1, 1 << 30));
  }
  std::string text = r.ScalarText(node, kHelp);
  std::string_view t = strings::Trim(text);
  size_t unit_start = t.size();
  while (unit_start > 0 && std::isalpha(static_cast<unsigned char>(t[unit_start - 1])))
    --unit_start;
  double scale;
  long long value;
  if (!UnitToGib(t.substr(unit_start), scale) ||
      !strings::ParseInt(t.substr(0, unit_start), value) || value < 0) {
    r.Fail(node, fmt::format("invalid size '{}': expected {}.", text, kHelp), {"256GB"});
  }
  return static_cast<int>(std::clamp<double>(std::ceil(value * scale), 0, 1 << 30));
}

AcceleratorRequest ReadAcceleratorText(Reader& r, const YAML::Node& node) {
  std::string text = r.ScalarText(node, "an accelerator such as 'A100' or 'A100:8'");
  try {
    return ParseAccelerator(text, r.path());
  } catch (const InvalidTaskError& e) {
    r.Fail(node, e.message(), e.suggestions());
  }
}

AcceleratorRequest ReadAcceleratorEntry(Reader& r, const YAML::Node& key, const YAML::Node& value) {
  AcceleratorRequest request = ReadAcceleratorText(r, key);
  if (value.IsDefined() && !value.IsNull()) {
    auto scope = r.Enter(key.Scalar());
    if (key.Scalar().find(':') != std::string::npos) {
      r.Fail(value, fmt::format("the count of '{}' is given twice.", key.Scalar()));
    }
    request.count = r.Number(value, "a positive accelerator count such as 8 or 0.5");
    if (!(request.count > 0)) {
      r.Fail(value, "the accelerator count must be positive.", {request.name + ":1"});
    }
  }
  return request;
}

namespace {
constexpr std::string_view kPortHelp =
    "a port (8080), a from-to range ('10000-10010') or a list of them";
}  // namespace

PortRange ReadPortText(Reader& r, const YAML::Node& node) {
  return ReadPortText(r, node, r.ScalarText(node, kPortHelp));
}

PortRange ReadPortText(Reader& r, const YAML::Node& node, std::string_view written) {
  constexpr std::string_view kHelp = kPortHelp;
  std::string text(strings::Trim(written));
  auto dash = text.find('-');
  long long first, last;
  bool ok;
  if (dash == std::string::npos) {
    ok = strings::ParseInt(text, first);
    last = first;
  } else {
    ok = strings::ParseInt(text.substr(0, dash), first) &&
         strings::ParseInt(text.substr(dash + 1), last);
  }
  if (!ok) r.Fail(node, fmt::format("invalid port '{}': expected {}.", text, kHelp), {"8080"});
  if (first < 1 || last > 65535 || first > last) {
    r.Fail(node,
           fmt::format("invalid port range '{}': ports are 1-65535 and a range is written "
                       "from-to with from <= to.",
                       text),
           {"10000-10010"});
  }
  return PortRange{static_cast<int>(first), static_cast<int>(last)};
}

int ReadIdleMinutes(Reader& r, const YAML::Node& node) {
  constexpr std::string_view kHelp = "minutes (10) or a duration such as '30m', '1h', '2d', '1w'";
  if (node.IsScalar() && ResolveScalar(node) == ScalarKind::kInt) {
    long long v = r.Int(node);
    if (v < 0) r.Fail(node, "idle minutes must be 0 or more.", {"10"});
    return static_cast<int>(std::min<long long>(v, 1 << 30));
  }
  std::string text(strings::Trim(r.ScalarText(node, kHelp)));
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string unit = strings::Lower(text.substr(digits));
  long long value;
  long long per_unit = unit.empty()  ? 1
                       : unit == "m" ? 1
                       : unit == "h" ? 60
                       : unit == "d" ? 1440
                       : unit == "w" ? 10080
                                     : 0;
  if (digits == 0 || per_unit == 0 || !strings::ParseInt(text.substr(0, digits), value)) {
    r.Fail(node, fmt::format("invalid duration '{}': expected {}.", text, kHelp), {"30m", "1h"});
  }
  return static_cast<int>(std::min<long long>(value * per_unit, 1 << 30));
}

}  // namespace skycore::yamlio
