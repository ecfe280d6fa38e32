#include "infra/vm/provisioner.h"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

namespace skycore::vm {

void Provisioner::WaitInstances(const std::string& region, const std::string& cluster_name_on_cloud,
                                InstanceState state,
                                std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto states =
        QueryInstances(region, cluster_name_on_cloud, state != InstanceState::kTerminated);
    const bool done = std::all_of(states.begin(), states.end(),
                                  [&](const auto& each) { return each.second == state; });
    if (done) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      throw ResourcesUnavailableError(
          fmt::format("the instances of cluster '{}' in {} did not become {} in time",
                      cluster_name_on_cloud, region, InstanceStateName(state)));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace skycore::vm
