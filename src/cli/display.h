// How clusters, resources and infras read in `sky status`, `sky queue` and
// `sky cost-report`, in SkyPilot's words and abbreviations.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/table.h"
#include "skycore/sdk.h"

namespace skycore::cli {

// "AWS", "GCP", "Kubernetes", "Local", ... for a canonical infra name.
std::string PrettyInfraName(std::string_view infra);

// The INFRA cell of a cluster: "AWS (us-east-1)", "Kubernetes (my-ctx)",
// "Local"; "-" when unknown. `launched_resources` is the recorded JSON.
std::string InfraCell(const nlohmann::json& launched_resources);

// The RESOURCES cell: "1x(gpus=A100:8, cpus=96, mem=1152, p4d.24xlarge)";
// "-" when unknown.
std::string ResourcesCell(const nlohmann::json& launched_resources, int num_nodes);

// "~/sky_logs/x" for a path under $HOME, else the path.
std::string TildePath(const std::string& path);

// Unix time now, in seconds.
double NowSeconds();

// Opens the Sky context from the environment ($SKYCORE_STATE_DIR or
// $HOME/.sky, catalogs, $SKYCORE_BIN_DIR).
std::unique_ptr<Sky> OpenSky();

// True when `name` holds glob characters (`*`, `?`, `[`).
bool IsGlob(std::string_view name);

// The exit codes SkyPilot gives a job's status (`sky logs --status`):
// SUCCEEDED 0, FAILED* 100, not finished 101, not found 102, CANCELLED 103.
inline constexpr int kExitJobFailed = 100;
inline constexpr int kExitJobNotFinished = 101;
inline constexpr int kExitJobNotFound = 102;
inline constexpr int kExitJobCancelled = 103;
int JobStatusExitCode(JobStatus status);

// Exit code of a command interrupted with Ctrl-C.
inline constexpr int kExitInterrupted = 130;

}  // namespace skycore::cli
