// Readers and writers of the task YAML's sections (internal to the loader).
#pragma once

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "skycore/resources.h"
#include "skycore/task.h"
#include "yaml/reader.h"

namespace skycore::yamlio {

// `resources:` with every form: single, `any_of`, `ordered`, accelerator lists/sets.
ResourcesSet ReadResourcesSection(Reader& reader, const YAML::Node& node);
// One resources mapping, no alternatives (the SDK's `sky.Resources(...)`).
Resources ReadSingleResources(Reader& reader, const YAML::Node& node);

// A task document. Envs may still hold unset (null) values, reported in
// `unset` with their nodes so the caller can apply overrides first and then
// report what is still missing. A null secret is not reported: it loads as an
// unresolved secret (Task::unresolved_secrets()), to be given at launch.
struct UnsetVar {
  std::string section;  // "envs"
  std::string name;
  YAML::Node node;
};
Task ReadTaskDocument(Reader& reader, const YAML::Node& node, std::vector<UnsetVar>& unset);

// The SKYPILOT_DOCKER_* registry login: all three or none, all in envs or all in
// secrets. Run once overrides are applied; `document` locates the error.
void CheckDockerLogin(Reader& reader, const Task& task, const YAML::Node& document);

// Config objects in SkyPilot's layout (the inverse of the readers).
nlohmann::ordered_json ResourcesToConfig(const Resources& resources);
nlohmann::ordered_json ResourcesSetToConfig(const ResourcesSet& set);

// A YAML node tree for a JSON value; strings are tagged so they stay strings.
YAML::Node JsonToYaml(const nlohmann::json& value);
YAML::Node JsonToYaml(const nlohmann::ordered_json& value);

}  // namespace skycore::yamlio
