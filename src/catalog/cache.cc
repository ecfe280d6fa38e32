// The binary catalog cache: one file beside each CSV, `<csv>.skycache`.
//
// Layout (little-endian, fixed-width, 8-byte aligned so it can be mapped):
//   CacheHeader (64 bytes)
//   f64 price[rows], f64 spot_price[rows]
//   u32 instance_type[rows], accelerator_name[rows], region[rows], zone[rows], gpu_info[rows]
//   f32 accelerator_count[rows], vcpus[rows], memory_gib[rows]
//   u32 price_order[rows], spot_price_order[rows]   (PriceOrder of each price
//       column, so that loading builds the price indexes without sorting)
//   u32 dict_offsets[dict_count + 1], char dict_chars[dict_bytes]
//   char issues[issues_bytes]   ("line\tmessage\n" for rows the CSV load skipped)
// A cache is used only when its version and the CSV's size and mtime match;
// anything else (missing, stale, truncated, out-of-range codes) means reparse.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "catalog/table.h"
#include "common/strings.h"

namespace skycore::catalog_internal {
namespace {

// Bump when the layout or the meaning of rows (e.g. host attachment) changes.
// 2: the price orders of the rows.
constexpr uint32_t kCacheVersion = 2;
constexpr char kMagic[8] = {'S', 'K', 'Y', 'C', 'C', 'A', 'T', '\0'};

struct CacheHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_size;
  uint64_t source_size;
  int64_t source_mtime_ns;
  uint64_t rows;
  uint64_t dict_count;
  uint64_t dict_bytes;
  uint64_t issues_bytes;
};
static_assert(sizeof(CacheHeader) == 64);

uint64_t Align8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

uint64_t BodySize(const CacheHeader& h) {
  uint64_t size = sizeof(CacheHeader);
  size += h.rows * (2 * 8 + 5 * 4 + 3 * 4 + 2 * 4);
  size = Align8(size);
  size += (h.dict_count + 1) * 4;
  size += h.dict_bytes;
  size += h.issues_bytes;
  return size;
}

class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
      size_ = static_cast<size_t>(st.st_size);
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED) data_ = static_cast<const char*>(p);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const char* data() const { return data_; }
  size_t size() const { return data_ == nullptr ? 0 : size_; }

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
};

template <typename T>
void ReadColumn(const char*& cursor, uint64_t rows, std::vector<T>& out) {
  out.resize(rows);
  std::memcpy(out.data(), cursor, rows * sizeof(T));
  cursor += rows * sizeof(T);
}

template <typename T>
void WriteColumn(std::string& out, const std::vector<T>& column) {
  out.append(reinterpret_cast<const char*>(column.data()), column.size() * sizeof(T));
}

}  // namespace

std::shared_ptr<InfraTable> LoadCache(const std::filesystem::path& cache_path,
                                      const std::string& infra, uint64_t source_size,
                                      int64_t source_mtime_ns, std::vector<CatalogIssue>* issues) {
  MappedFile file(cache_path);
  if (file.size() < sizeof(CacheHeader)) return nullptr;
  CacheHeader h;
  std::memcpy(&h, file.data(), sizeof h);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0 || h.version != kCacheVersion ||
      h.header_size != sizeof(CacheHeader) || h.source_size != source_size ||
      h.source_mtime_ns != source_mtime_ns || h.rows > (1ull << 32) ||
      h.dict_count > (1ull << 32) || BodySize(h) != file.size()) {
    return nullptr;
  }
  auto table = std::make_shared<InfraTable>();
  table->infra = infra;
  const char* cursor = file.data() + sizeof(CacheHeader);
  ReadColumn(cursor, h.rows, table->price);
  ReadColumn(cursor, h.rows, table->spot_price);
  for (auto* column : {&table->instance_type, &table->accelerator_name, &table->region,
                       &table->zone, &table->gpu_info}) {
    ReadColumn(cursor, h.rows, *column);
    for (uint32_t code : *column) {
      if (code >= h.dict_count) return nullptr;
    }
  }
  for (auto* column : {&table->accelerator_count, &table->vcpus, &table->memory_gib}) {
    ReadColumn(cursor, h.rows, *column);
  }
  std::vector<uint32_t> price_order, spot_price_order;
  ReadColumn(cursor, h.rows, price_order);
  ReadColumn(cursor, h.rows, spot_price_order);
  if (!IsPriceOrder(price_order, table->price) ||
      !IsPriceOrder(spot_price_order, table->spot_price)) {
    return nullptr;
  }
  cursor = file.data() + Align8(cursor - file.data());
  std::vector<uint32_t> offsets;
  ReadColumn(cursor, h.dict_count + 1, offsets);
  const char* chars = cursor;
  std::vector<std::string> values;
  values.reserve(h.dict_count);
  for (uint64_t i = 0; i < h.dict_count; ++i) {
    if (offsets[i] > offsets[i + 1] || offsets[i + 1] > h.dict_bytes) return nullptr;
    values.emplace_back(chars + offsets[i], offsets[i + 1] - offsets[i]);
  }
  if (values.empty() || !values[0].empty()) return nullptr;
  table->dict.Assign(std::move(values));
  cursor = chars + h.dict_bytes;
  std::string_view issue_text(cursor, h.issues_bytes);
  if (issues != nullptr) {
    for (const auto& line : strings::Split(issue_text, '\n')) {
      size_t tab = line.find('\t');
      if (tab == std::string::npos) continue;
      long long number = 0;
      strings::ParseInt(line.substr(0, tab), number);
      issues->push_back(CatalogIssue{"", static_cast<int>(number), line.substr(tab + 1)});
    }
  }
  table->BuildIndexes(price_order, spot_price_order);
  return table;
}

bool WriteCache(const std::filesystem::path& cache_path, const InfraTable& table,
                uint64_t source_size, int64_t source_mtime_ns,
                const std::vector<CatalogIssue>& issues) {
  std::string issue_text;
  for (const auto& issue : issues) {
    issue_text += std::to_string(issue.line) + "\t" + issue.message + "\n";
  }
  std::string dict_chars;
  std::vector<uint32_t> offsets{0};
  for (const auto& value : table.dict.values()) {
    dict_chars += value;
    offsets.push_back(static_cast<uint32_t>(dict_chars.size()));
  }
  CacheHeader h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kCacheVersion;
  h.header_size = sizeof(CacheHeader);
  h.source_size = source_size;
  h.source_mtime_ns = source_mtime_ns;
  h.rows = table.size();
  h.dict_count = table.dict.size();
  h.dict_bytes = dict_chars.size();
  h.issues_bytes = issue_text.size();

  std::string out;
  out.reserve(BodySize(h));
  out.append(reinterpret_cast<const char*>(&h), sizeof h);
  WriteColumn(out, table.price);
  WriteColumn(out, table.spot_price);
  for (const auto* column : {&table.instance_type, &table.accelerator_name, &table.region,
                             &table.zone, &table.gpu_info}) {
    WriteColumn(out, *column);
  }
  for (const auto* column : {&table.accelerator_count, &table.vcpus, &table.memory_gib}) {
    WriteColumn(out, *column);
  }
  WriteColumn(out, PriceOrder(table.price));
  WriteColumn(out, PriceOrder(table.spot_price));
  out.resize(Align8(out.size()), '\0');
  WriteColumn(out, offsets);
  out += dict_chars;
  out += issue_text;

  std::filesystem::path tmp = cache_path;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream stream(tmp, std::ios::binary | std::ios::trunc);
    if (!stream) return false;
    stream.write(out.data(), static_cast<std::streamsize>(out.size()));
    if (!stream.good()) {
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, cache_path, ec);
  if (ec) std::filesystem::remove(tmp, ec);
  return !ec;
}

}  // namespace skycore::catalog_internal
