// SkyPilot-format catalog CSV → InfraTable.
//
// The header names the columns; their order differs per cloud and is never
// assumed. Each data row is validated; a bad row is reported as
// `file:line: why` and skipped. Accelerator-only rows (empty InstanceType) are
// attached to host VMs per the infra's HostRules.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "catalog/table.h"
#include "infra/descriptor.h"

namespace skycore::catalog_internal {
using infra::DescribeInfra;
using infra::HostRule;
using infra::InfraDescriptor;
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

enum Column {
  kInstanceType,
  kAcceleratorName,
  kAcceleratorCount,
  kVcpus,
  kMemoryGib,
  kGpuInfo,
  kPrice,
  kSpotPrice,
  kRegion,
  kZone,
  kNumColumns
};

constexpr const char* kColumnNames[kNumColumns] = {
    "InstanceType", "AcceleratorName", "AcceleratorCount", "vCPUs",  "MemoryGiB",
    "GpuInfo",      "Price",           "SpotPrice",        "Region", "AvailabilityZone"};

// Splits one CSV record starting at `pos` into fields. Handles quoted fields
// ("a,b", doubled quotes). Quoted fields with doubled quotes are unescaped
// into `scratch`. Returns the position after the record's line end.
size_t SplitRecord(std::string_view text, size_t pos, std::vector<std::string_view>& fields,
                   std::vector<std::string>& scratch, int& lines_consumed, bool& unterminated) {
  fields.clear();
  lines_consumed = 1;
  unterminated = false;
  const size_t n = text.size();
  while (true) {
    if (pos < n && text[pos] == '"') {
      size_t start = pos + 1;
      size_t i = start;
      bool has_escape = false;
      while (true) {
        if (i >= n) {
          unterminated = true;
          fields.push_back(text.substr(start, n - start));
          return n;
        }
        if (text[i] == '"') {
          if (i + 1 < n && text[i + 1] == '"') {
            has_escape = true;
            i += 2;
            continue;
          }
          break;
        }
        if (text[i] == '\n') ++lines_consumed;
        ++i;
      }
      std::string_view raw = text.substr(start, i - start);
      if (has_escape) {
        std::string unescaped;
        for (size_t k = 0; k < raw.size(); ++k) {
          unescaped.push_back(raw[k]);
          if (raw[k] == '"') ++k;
        }
        scratch.push_back(std::move(unescaped));
        fields.push_back(scratch.back());
      } else {
        fields.push_back(raw);
      }
      pos = i + 1;
      // Anything between the closing quote and the separator is kept out.
      while (pos < n && text[pos] != ',' && text[pos] != '\n') ++pos;
    } else {
      size_t end = pos;
      while (end < n && text[end] != ',' && text[end] != '\n') ++end;
      std::string_view field = text.substr(pos, end - pos);
      if (!field.empty() && field.back() == '\r') field.remove_suffix(1);
      fields.push_back(field);
      pos = end;
    }
    if (pos >= n) return n;
    if (text[pos] == '\n') return pos + 1;
    ++pos;  // ','
    if (pos >= n) {
      fields.emplace_back();
      return n;
    }
  }
}

bool ParseNumber(std::string_view text, double& out) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.remove_suffix(1);
  if (text.empty()) return false;
  auto result = std::from_chars(text.data(), text.data() + text.size(), out);
  return result.ec == std::errc() && result.ptr == text.data() + text.size() && std::isfinite(out);
}

struct RawRow {
  std::string_view instance_type, accelerator_name, region, zone, gpu_info;
  double accelerator_count, vcpus, memory_gib, price, spot_price;
};

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool RuleMatches(const HostRule& rule, const RawRow& accel, std::string_view host) {
  if (rule.accelerator != accel.accelerator_name) return false;
  if (rule.count > 0 && std::fabs(rule.count - accel.accelerator_count) > 1e-9) return false;
  if (!rule.host_prefix.empty()) return StartsWith(host, rule.host_prefix);
  return std::find(rule.hosts.begin(), rule.hosts.end(), host) != rule.hosts.end();
}

double AddPrices(double a, double b) { return std::isnan(a) || std::isnan(b) ? kNaN : a + b; }

// Emits host+accelerator rows for accelerator-only rows.
void AttachAccelerators(const InfraDescriptor& descriptor, const std::vector<RawRow>& hosts,
                        const std::vector<RawRow>& accelerators, InfraTable& table) {
  for (const RawRow& accel : accelerators) {
    for (const RawRow& host : hosts) {
      if (host.region != accel.region || host.zone != accel.zone) continue;
      bool matches = false;
      for (const HostRule& rule : descriptor.host_rules) {
        if (RuleMatches(rule, accel, host.instance_type)) {
          matches = true;
          break;
        }
      }
      if (!matches) continue;
      table.AppendRow(host.instance_type, accel.accelerator_name,
                      static_cast<float>(accel.accelerator_count), static_cast<float>(host.vcpus),
                      static_cast<float>(host.memory_gib), AddPrices(host.price, accel.price),
                      AddPrices(host.spot_price, accel.spot_price), host.region, host.zone,
                      accel.gpu_info);
    }
  }
}

}  // namespace

std::shared_ptr<InfraTable> ParseCatalogCsv(const std::string& infra, std::string_view text,
                                            const std::string& filename,
                                            std::vector<CatalogIssue>* issues) {
  auto report = [&](int line, std::string message) {
    if (issues != nullptr) issues->push_back(CatalogIssue{filename, line, std::move(message)});
  };
  auto table = std::make_shared<InfraTable>();
  table->infra = infra;
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);

  std::vector<std::string_view> fields;
  std::vector<std::string> scratch;
  int consumed = 0;
  bool unterminated = false;
  size_t pos = SplitRecord(text, 0, fields, scratch, consumed, unterminated);
  int line = 1;
  int column_of[kNumColumns];
  std::fill(std::begin(column_of), std::end(column_of), -1);
  for (size_t i = 0; i < fields.size(); ++i) {
    for (int c = 0; c < kNumColumns; ++c) {
      if (fields[i] == kColumnNames[c]) column_of[c] = static_cast<int>(i);
    }
  }
  if (column_of[kInstanceType] < 0 || column_of[kPrice] < 0 || column_of[kRegion] < 0) {
    report(1, "not a catalog CSV: the header must name InstanceType, Price and Region columns");
    return table;
  }
  const size_t num_fields = fields.size();
  const InfraDescriptor& descriptor = DescribeInfra(infra);
  const bool attach = !descriptor.host_rules.empty();
  std::vector<RawRow> hosts, accelerator_rows;
  table->Reserve(text.size() / 90 + 16);

  line += consumed - 1;
  while (pos < text.size()) {
    scratch.clear();
    ++line;
    const int record_line = line;
    pos = SplitRecord(text, pos, fields, scratch, consumed, unterminated);
    line += consumed - 1;
    if (fields.size() == 1 && fields[0].empty()) continue;  // blank line
    if (unterminated) {
      report(record_line, "unterminated quoted field (truncated file?)");
      continue;
    }
    if (fields.size() != num_fields) {
      report(record_line,
             fmt::format("expected {} fields, found {}; row skipped", num_fields, fields.size()));
      continue;
    }
    auto get = [&](int c) -> std::string_view {
      return column_of[c] < 0 ? std::string_view() : fields[column_of[c]];
    };
    RawRow row{get(kInstanceType),
               get(kAcceleratorName),
               get(kRegion),
               get(kZone),
               get(kGpuInfo),
               0,
               0,
               0,
               kNaN,
               kNaN};
    bool ok = true;
    auto number = [&](int c, double& out, bool allow_empty) {
      std::string_view value = get(c);
      if (value.empty()) {
        if (!allow_empty) {
          report(record_line, fmt::format("empty {}; row skipped", kColumnNames[c]));
          ok = false;
        }
        return;
      }
      if (!ParseNumber(value, out) || out < 0) {
        report(record_line, fmt::format("bad {} '{}'; row skipped", kColumnNames[c], value));
        ok = false;
      }
    };
    number(kAcceleratorCount, row.accelerator_count, true);
    number(kVcpus, row.vcpus, true);
    number(kMemoryGib, row.memory_gib, true);
    number(kPrice, row.price, true);
    number(kSpotPrice, row.spot_price, true);
    if (!ok) continue;
    if (row.region.empty()) {
      report(record_line, "empty Region; row skipped");
      continue;
    }
    if (row.instance_type.empty() && row.accelerator_name.empty()) {
      report(record_line, "neither InstanceType nor AcceleratorName; row skipped");
      continue;
    }
    if (!row.accelerator_name.empty() && !(row.accelerator_count > 0)) {
      report(record_line, "AcceleratorName without a positive AcceleratorCount; row skipped");
      continue;
    }
    if (row.instance_type.empty() && !descriptor.hostless_accelerator_prefix.empty() &&
        StartsWith(row.accelerator_name, descriptor.hostless_accelerator_prefix)) {
      row.instance_type = descriptor.hostless_instance_type;
    }
    if (attach && row.instance_type.empty()) {
      accelerator_rows.push_back(row);
      continue;
    }
    if (row.instance_type.empty()) {
      report(record_line, "empty InstanceType and no host rule for this infra; row skipped");
      continue;
    }
    if (attach && row.accelerator_name.empty()) hosts.push_back(row);
    bool gpu_only = false;
    for (const auto& prefix : descriptor.gpu_only_host_prefixes) {
      if (StartsWith(row.instance_type, prefix)) gpu_only = true;
    }
    if (gpu_only && row.accelerator_name.empty()) continue;
    table->AppendRow(row.instance_type, row.accelerator_name,
                     static_cast<float>(row.accelerator_count), static_cast<float>(row.vcpus),
                     static_cast<float>(row.memory_gib), row.price, row.spot_price, row.region,
                     row.zone, row.gpu_info);
  }
  if (attach) AttachAccelerators(descriptor, hosts, accelerator_rows, *table);
  table->BuildIndexes();
  return table;
}

}  // namespace skycore::catalog_internal
