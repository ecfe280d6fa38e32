// The registry: one Infra per entry of src/infra/list.h, and what every infra
// shares by default.
#include <fmt/format.h>

#include "common/strings.h"
#include "infra/infra.h"
#include "infra/list.h"
#include "skycore/error.h"

namespace skycore::infra {

#define SKYCORE_DECLARE_LAUNCHABLE(Type)     \
  const InfraDescriptor& Type##Descriptor(); \
  std::unique_ptr<Infra> Make##Type##Infra();
#define SKYCORE_DECLARE_CATALOG_ONLY(Type) const InfraDescriptor& Type##Descriptor();
SKYCORE_INFRA_LIST(SKYCORE_DECLARE_LAUNCHABLE, SKYCORE_DECLARE_CATALOG_ONLY)
#undef SKYCORE_DECLARE_LAUNCHABLE
#undef SKYCORE_DECLARE_CATALOG_ONLY

namespace {

// An infra whose offerings come from the catalog only: priced and planned,
// not yet launched on.
class CatalogOnlyInfra : public Infra {
 public:
  explicit CatalogOnlyInfra(const InfraDescriptor& descriptor) : descriptor_(descriptor) {}
  const InfraDescriptor& descriptor() const override { return descriptor_; }

 private:
  const InfraDescriptor& descriptor_;
};

std::vector<std::unique_ptr<Infra>> MakeAll() {
  std::vector<std::unique_ptr<Infra>> all;
#define SKYCORE_ADD_LAUNCHABLE(Type) all.push_back(Make##Type##Infra());
#define SKYCORE_ADD_CATALOG_ONLY(Type) \
  all.push_back(std::make_unique<CatalogOnlyInfra>(Type##Descriptor()));
  SKYCORE_INFRA_LIST(SKYCORE_ADD_LAUNCHABLE, SKYCORE_ADD_CATALOG_ONLY)
#undef SKYCORE_ADD_LAUNCHABLE
#undef SKYCORE_ADD_CATALOG_ONLY
  return all;
}

}  // namespace

// ------------------------------------------------------------ defaults

std::optional<std::string> Infra::CachedOfferings(const BackendContext&) const {
  return std::nullopt;
}

bool Infra::Enabled(const BackendContext& context) const {
  return CachedOfferings(context).has_value();
}

InfraCheck Infra::Check(const BackendContext&) const {
  return {name(), false, "launching on this infra is not supported by skycore yet"};
}

std::unique_ptr<backend::ClusterBackend> Infra::MakeBackend(const BackendContext&) const {
  throw NotSupportedError(
      fmt::format("launching on {} is not supported by skycore yet", descriptor().display_name));
}

std::optional<int> Infra::ShowGpus(const ShowGpusRequest&, const BackendContext&) const {
  return std::nullopt;
}

void Infra::ShowGpusDetail(const std::string&, const BackendContext&) const {}

std::shared_ptr<const vm::VmCloud> Infra::MakeVmCloud(const BackendContext&) const {
  return nullptr;
}

// ------------------------------------------------------------ registry

const std::vector<const Infra*>& Infras() {
  // Built once; infras hold no mutable state (caches live in the context).
  static const std::vector<std::unique_ptr<Infra>> kOwned = MakeAll();
  static const std::vector<const Infra*> kAll = [] {
    std::vector<const Infra*> all;
    for (const auto& each : kOwned) all.push_back(each.get());
    return all;
  }();
  return kAll;
}

const Infra* FindInfra(std::string_view name_or_alias) {
  const InfraDescriptor* descriptor = FindDescriptor(name_or_alias);
  if (descriptor == nullptr) return nullptr;
  for (const Infra* each : Infras()) {
    if (&each->descriptor() == descriptor) return each;
  }
  return nullptr;
}

Catalog WithCachedOfferings(Catalog base, const BackendContext& context) {
  for (const Infra* each : Infras()) {
    if (auto csv = each->CachedOfferings(context)) {
      base = base.MergedWith(Catalog::FromCsvText(each->name(), *csv, "<" + each->name() + ">"));
    }
  }
  return base;
}

}  // namespace skycore::infra

namespace skycore::backend {

std::unique_ptr<ClusterBackend> BackendForHandle(const nlohmann::json& handle,
                                                 const BackendContext& context) {
  const std::string name = handle.is_object() ? handle.value("infra", "") : "";
  const infra::Infra* found = infra::FindInfra(name);
  if (found == nullptr) {
    throw InternalError("the cluster's handle names no backend skycore knows: " + handle.dump());
  }
  return found->MakeBackend(context);
}

std::unique_ptr<ClusterBackend> BackendForInfra(const std::string& name, const std::string&,
                                                const BackendContext& context) {
  const infra::Infra* found = infra::FindInfra(name);
  if (found == nullptr) {
    throw NotSupportedError(
        fmt::format("launching on {} is not supported by skycore yet", infra::DisplayName(name)));
  }
  return found->MakeBackend(context);
}

}  // namespace skycore::backend
