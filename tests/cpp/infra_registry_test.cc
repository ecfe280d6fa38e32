// The infra registry: one entry per folder of src/infra/, names and aliases
// resolving to it, and the generic behaviour of catalog-only infras.
#include <gtest/gtest.h>

#include <set>

#include "infra/descriptor.h"
#include "infra/infra.h"
#include "skycore/error.h"
#include "skycore/resources.h"

namespace skycore {
namespace {

TEST(InfraRegistryTest, EveryInfraHasOneDescriptorAndUniqueNames) {
  std::set<std::string> names;
  for (const infra::Infra* each : infra::Infras()) {
    EXPECT_FALSE(each->name().empty());
    EXPECT_FALSE(each->descriptor().display_name.empty()) << each->name();
    EXPECT_TRUE(names.insert(each->name()).second) << "twice: " << each->name();
    for (const auto& alias : each->descriptor().aliases) {
      EXPECT_TRUE(names.insert(alias).second) << "alias twice: " << alias;
    }
    EXPECT_EQ(infra::FindInfra(each->name()), each);
    EXPECT_EQ(infra::FindDescriptor(each->name()), &each->descriptor());
  }
  EXPECT_EQ(infra::Infras().size(), infra::Descriptors().size());
  // Every implemented infra is a name a task may write.
  const auto& known = KnownInfraNames();
  for (const infra::Infra* each : infra::Infras()) {
    EXPECT_NE(std::find(known.begin(), known.end(), each->name()), known.end()) << each->name();
  }
}

TEST(InfraRegistryTest, AliasesAndCaseResolveToTheCanonicalInfra) {
  ASSERT_NE(infra::FindInfra("K8S"), nullptr);
  EXPECT_EQ(infra::FindInfra("K8S"), infra::FindInfra("kubernetes"));
  EXPECT_EQ(infra::FindInfra("nope"), nullptr);
  // A cloud SkyPilot knows without a folder here: a valid name, no infra.
  EXPECT_EQ(infra::FindInfra("oci"), nullptr);
  EXPECT_EQ(infra::DisplayName("oci"), "OCI");
  EXPECT_EQ(infra::DisplayName("kubernetes"), "Kubernetes");
  EXPECT_EQ(infra::DisplayName("somecloud"), "Somecloud");
}

TEST(InfraRegistryTest, WrittenNamesRoundTripThroughResources) {
  for (const infra::InfraDescriptor* descriptor : infra::Descriptors()) {
    ResourcesSpec spec;
    ParseInfraInto(descriptor->written_name(), spec);
    EXPECT_EQ(spec.cloud, descriptor->name);
    EXPECT_EQ(Resources(spec).infra(), descriptor->written_name());
  }
}

TEST(InfraRegistryTest, InfrasSkycoreDoesNotImplementAreRefusedByName) {
  backend::BackendContext context;
  EXPECT_THROW(backend::BackendForHandle(nlohmann::json{{"infra", "nope"}}, context),
               InternalError);
  EXPECT_THROW(backend::BackendForInfra("oci", "", context), NotSupportedError);
}

}  // namespace
}  // namespace skycore
