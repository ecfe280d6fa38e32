// Virtual instance types of Kubernetes and Slurm ("4CPU--16GB--H100:1"): their
// names, how a task's resources size them (SkyPilot 0.14.1's defaults; the
// Python suite compares with SkyPilot's own functions in
// test_virtual_instance_types.py), and the optimizer planning them on the node
// shapes of a context or a Slurm partition.
#include "infra/virtual_instance_type.h"

#include <gtest/gtest.h>

#include "skycore/catalog.h"
#include "skycore/error.h"
#include "skycore/optimizer.h"
#include "skycore/yaml.h"

namespace skycore::infra {
namespace {

std::string TypeFor(const std::string& resources) {
  const Dag dag = LoadDagYaml("resources: " + resources + "\nrun: echo ok\n");
  const auto type = VirtualTypeFor(dag.tasks().at(0)->resources().alternatives().at(0));
  return type ? type->name : "<none>";
}

TEST(VirtualInstanceType, NamesWriteWholeNumbersBareAndOthersToOneDecimal) {
  EXPECT_EQ(FormatTypeNumber(2), "2");
  EXPECT_EQ(FormatTypeNumber(0.5), "0.5");
  EXPECT_EQ(FormatTypeNumber(0.25), "0.2");  // as Python's '{:.1f}'
  EXPECT_EQ(FormatTypeNumber(2.75), "2.8");
  infra::VirtualInstanceType type{"", 4, 16, "RTX 4090", 1};
  EXPECT_EQ(VirtualTypeName(type), "4CPU--16GB--RTX_4090:1");
  type.accelerator_count = 0;
  EXPECT_EQ(VirtualTypeName(type), "4CPU--16GB");
}

TEST(VirtualInstanceType, ParsesSkyPilotsFormatOnly) {
  const auto gpu = ParseVirtualType("4CPU--16GB--H100:2");
  ASSERT_TRUE(gpu);
  EXPECT_DOUBLE_EQ(gpu->cpus, 4);
  EXPECT_DOUBLE_EQ(gpu->memory_gib, 16);
  EXPECT_EQ(gpu->accelerator, "H100");
  EXPECT_EQ(gpu->accelerator_count, 2);
  const auto small = ParseVirtualType("0.5CPU--1.5GB");
  ASSERT_TRUE(small);
  EXPECT_DOUBLE_EQ(small->cpus, 0.5);
  EXPECT_DOUBLE_EQ(small->memory_gib, 1.5);
  EXPECT_EQ(small->accelerator_count, 0);
  EXPECT_TRUE(ParseVirtualType("8CPU--32GB--tpu-v5-lite-podslice:4"));
  for (const char* bad : {"", "m5.large", "4CPU", "4CPU--16", "4CPU--16GB--", "4CPU--16GB--H100",
                          "4CPU--16GB--H100:", "4CPU--16GB--H100:1.5", ".5CPU--1GB",
                          "4CPU--16GB--H 100:1", "4CPU--16GBx"}) {
    EXPECT_FALSE(ParseVirtualType(bad)) << bad;
  }
}

TEST(VirtualInstanceType, SizedFromTheAskWithSkyPilotsDefaults) {
  EXPECT_EQ(TypeFor("{infra: k8s}"), "2CPU--2GB");
  EXPECT_EQ(TypeFor("{cpus: 2}"), "2CPU--2GB");
  EXPECT_EQ(TypeFor("{cpus: 2+}"), "2CPU--2GB");
  EXPECT_EQ(TypeFor("{cpus: 4}"), "4CPU--4GB");
  EXPECT_EQ(TypeFor("{cpus: 0.5}"), "0.5CPU--0.5GB");
  EXPECT_EQ(TypeFor("{memory: 16}"), "2CPU--16GB");
  EXPECT_EQ(TypeFor("{memory: 16+}"), "2CPU--16GB");
  EXPECT_EQ(TypeFor("{cpus: 4, memory: 2x}"), "4CPU--8GB");
  EXPECT_EQ(TypeFor("{accelerators: H100:1}"), "4CPU--16GB--H100:1");
  EXPECT_EQ(TypeFor("{accelerators: H100:2}"), "8CPU--32GB--H100:2");
  EXPECT_EQ(TypeFor("{accelerators: H100:1, cpus: 2}"), "2CPU--8GB--H100:1");
  EXPECT_EQ(TypeFor("{accelerators: H100:1, cpus: 2+, memory: 32+}"), "2CPU--32GB--H100:1");
  EXPECT_EQ(TypeFor("{instance_type: 4CPU--16GB}"), "4CPU--16GB");
  EXPECT_EQ(TypeFor("{instance_type: m5.large}"), "<none>");
}

constexpr const char* kShapes =
    "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,"
    "AvailabilityZone\n"
    "16CPU--64GB--H100:1,H100,1,16,64,,0.0,,gpus,\n"
    "16CPU--64GB--H100:2,H100,2,16,64,,0.0,,gpus,\n"
    "16CPU--64GB,,,16,64,,0.0,,gpus,\n"
    "4CPU--8GB,,,4,8,,0.0,,small,\n";

Candidate Chosen(const std::string& resources, const std::string& infra = "kubernetes") {
  const Catalog catalog = Catalog::FromCsvText(infra, kShapes, "<" + infra + ">");
  const Dag dag = LoadDagYaml("resources: " + resources + "\nrun: echo ok\n");
  return Optimize(dag, catalog, {}).tasks.at(0).chosen;
}

TEST(VirtualInstanceType, OptimizerPlansTheTypeOnAShapeThatHoldsIt) {
  // An exact count is planned as SkyPilot plans it, not refused for want of
  // a node of exactly that many CPUs.
  auto two = Chosen("{infra: k8s, cpus: 2}");
  EXPECT_EQ(two.instance_type, "2CPU--2GB");
  EXPECT_DOUBLE_EQ(two.vcpus, 2);
  EXPECT_DOUBLE_EQ(two.memory_gib, 2);
  EXPECT_EQ(Chosen("{infra: k8s}").instance_type, "2CPU--2GB");
  // Only the 16-CPU context holds 8 CPUs.
  auto eight = Chosen("{infra: k8s, cpus: 8}");
  EXPECT_EQ(eight.instance_type, "8CPU--8GB");
  EXPECT_EQ(eight.region, "gpus");
  auto gpu = Chosen("{infra: k8s, accelerators: H100:1}");
  EXPECT_EQ(gpu.instance_type, "4CPU--16GB--H100:1");
  EXPECT_EQ(gpu.accelerator_name, "H100");
  EXPECT_DOUBLE_EQ(gpu.accelerator_count, 1);
  auto named = Chosen("{infra: k8s, instance_type: 4CPU--16GB--H100:2}");
  EXPECT_EQ(named.instance_type, "4CPU--16GB--H100:2");
  EXPECT_DOUBLE_EQ(named.accelerator_count, 2);
  EXPECT_EQ(Chosen("{infra: k8s, instance_type: 4CPU--16GB}").region, "gpus");
  EXPECT_THROW(Chosen("{infra: k8s, cpus: 32}"), ResourcesUnavailableError);
  EXPECT_THROW(Chosen("{infra: k8s, accelerators: H100:4}"), ResourcesUnavailableError);
  EXPECT_THROW(Chosen("{infra: k8s/small, instance_type: 4CPU--8GB--H100:1}"),
               ResourcesUnavailableError);
}

TEST(VirtualInstanceType, SlurmAllocationsAreSizedAsSkyPilotSizesThem) {
  // Rows are node shapes of partitions; an allocation asks for the type.
  auto none = Chosen("{infra: slurm}", "slurm");
  EXPECT_EQ(none.instance_type, "2CPU--2GB");
  EXPECT_DOUBLE_EQ(none.vcpus, 2);
  EXPECT_DOUBLE_EQ(none.memory_gib, 2);
  EXPECT_EQ(Chosen("{infra: slurm, cpus: 3+, memory: 2x}", "slurm").instance_type, "3CPU--6GB");
  EXPECT_EQ(Chosen("{infra: slurm, accelerators: H100:2}", "slurm").instance_type,
            "8CPU--32GB--H100:2");
  EXPECT_EQ(Chosen("{infra: slurm, instance_type: 4CPU--16GB}", "slurm").instance_type,
            "4CPU--16GB");
  EXPECT_THROW(Chosen("{infra: slurm, memory: 128}", "slurm"), ResourcesUnavailableError);
}

}  // namespace
}  // namespace skycore::infra
