// skycore/error.h — the error hierarchy of skycore.
//
// Every failure a user can cause or meet is a subclass of skycore::Error. An
// error carries a machine-readable ErrorCode, a one-line message, where it
// happened (a file with line and column, and a dotted field path such as
// `resources.accelerators`) and suggestions (close matches for a misspelt name,
// or examples of valid values). what() renders all of it for a person.
//
// The subclasses mirror SkyPilot's exception names so that code written against
// `sky.exceptions` keeps working: the Python bindings map each ErrorCode to one
// Python class through a single table.
#pragma once

#include <exception>
#include <string>
#include <vector>

namespace skycore {

enum class ErrorCode {
  kInvalidTask,           // a task YAML / task definition is invalid
  kInvalidConfig,         // ~/.sky/config.yaml or a `config:` block is invalid
  kResourcesUnavailable,  // nothing feasible for the requested resources
  kResourcesMismatch,     // resources do not match an existing cluster
  kNotSupported,          // a feature an infra does not support
  kClusterDoesNotExist,   // no cluster of that name
  kClusterNotUp,          // cluster exists but is not UP
  kJobNotFound,           // no job with that id
  kCommand,               // a command on a node failed
  kIo,                    // reading or writing a local file failed
  kState,                 // the state store is unusable (corrupt, newer schema)
  kNetwork,               // an HTTP/SSH connection failed
  kCloudCredentials,      // a cloud's credentials are missing, expired or refused
  kCancelled,             // the request was cancelled
  kInternal,              // a bug: an invariant did not hold
};

// The name of an ErrorCode as it appears in messages and bindings,
// e.g. "InvalidTask".
const char* ErrorCodeName(ErrorCode code) noexcept;

// Where in the user's input an error was found. Any part may be empty/zero.
struct ErrorLocation {
  std::string file;        // path as the user gave it, or "<string>"
  int line = 0;            // 1-based; 0 = unknown
  int column = 0;          // 1-based; 0 = unknown
  std::string field_path;  // dotted path, e.g. "resources.any_of[1].cpus"
};

class Error : public std::exception {
 public:
  Error(ErrorCode code, std::string message, ErrorLocation location = {},
        std::vector<std::string> suggestions = {});

  ErrorCode code() const noexcept { return code_; }
  // The bare message, without location or suggestions.
  const std::string& message() const noexcept { return message_; }
  const ErrorLocation& location() const noexcept { return location_; }
  const std::string& field_path() const noexcept { return location_.field_path; }
  // Close matches ("resources") or examples of valid values, best first.
  const std::vector<std::string>& suggestions() const noexcept { return suggestions_; }

  // "task.yaml:3:5: resources.accelerators: <message> Did you mean 'A100:8'?"
  const char* what() const noexcept override { return rendered_.c_str(); }

 private:
  ErrorCode code_;
  std::string message_;
  ErrorLocation location_;
  std::vector<std::string> suggestions_;
  std::string rendered_;
};

// Declares a subclass bound to one ErrorCode. Names follow sky.exceptions.
#define SKYCORE_DECLARE_ERROR(Name, Code)                                 \
  class Name : public Error {                                             \
   public:                                                                \
    explicit Name(std::string message, ErrorLocation location = {},       \
                  std::vector<std::string> suggestions = {})              \
        : Error(ErrorCode::Code, std::move(message), std::move(location), \
                std::move(suggestions)) {}                                \
  };

SKYCORE_DECLARE_ERROR(InvalidTaskError, kInvalidTask)
SKYCORE_DECLARE_ERROR(InvalidSkyPilotConfigError, kInvalidConfig)
SKYCORE_DECLARE_ERROR(ResourcesUnavailableError, kResourcesUnavailable)
SKYCORE_DECLARE_ERROR(ResourcesMismatchError, kResourcesMismatch)
SKYCORE_DECLARE_ERROR(NotSupportedError, kNotSupported)
SKYCORE_DECLARE_ERROR(ClusterDoesNotExist, kClusterDoesNotExist)
SKYCORE_DECLARE_ERROR(ClusterNotUpError, kClusterNotUp)
SKYCORE_DECLARE_ERROR(JobNotFoundError, kJobNotFound)
SKYCORE_DECLARE_ERROR(CommandError, kCommand)
SKYCORE_DECLARE_ERROR(IoError, kIo)
SKYCORE_DECLARE_ERROR(StateError, kState)
SKYCORE_DECLARE_ERROR(NetworkError, kNetwork)
SKYCORE_DECLARE_ERROR(InvalidCloudCredentials, kCloudCredentials)
SKYCORE_DECLARE_ERROR(CancelledError, kCancelled)
SKYCORE_DECLARE_ERROR(InternalError, kInternal)

#undef SKYCORE_DECLARE_ERROR

}  // namespace skycore
