#include "skycore/error.h"

#include <fmt/format.h>

namespace skycore {

const char* ErrorCodeName(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidTask:
      return "InvalidTask";
    case ErrorCode::kInvalidConfig:
      return "InvalidConfig";
    case ErrorCode::kResourcesUnavailable:
      return "ResourcesUnavailable";
    case ErrorCode::kResourcesMismatch:
      return "ResourcesMismatch";
    case ErrorCode::kNotSupported:
      return "NotSupported";
    case ErrorCode::kClusterDoesNotExist:
      return "ClusterDoesNotExist";
    case ErrorCode::kClusterNotUp:
      return "ClusterNotUp";
    case ErrorCode::kJobNotFound:
      return "JobNotFound";
    case ErrorCode::kCommand:
      return "Command";
    case ErrorCode::kIo:
      return "Io";
    case ErrorCode::kState:
      return "State";
    case ErrorCode::kNetwork:
      return "Network";
    case ErrorCode::kCloudCredentials:
      return "CloudCredentials";
    case ErrorCode::kCancelled:
      return "Cancelled";
    case ErrorCode::kInternal:
      return "Internal";
  }
  return "Unknown";
}

namespace {

std::string Render(const std::string& message, const ErrorLocation& location,
                   const std::vector<std::string>& suggestions) {
  std::string out;
  if (!location.file.empty()) {
    out += location.file;
    if (location.line > 0) {
      out += fmt::format(":{}", location.line);
      if (location.column > 0) out += fmt::format(":{}", location.column);
    }
    out += ": ";
  }
  if (!location.field_path.empty()) out += location.field_path + ": ";
  out += message;
  if (!suggestions.empty()) {
    out += " Did you mean ";
    for (size_t i = 0; i < suggestions.size(); ++i) {
      if (i > 0) out += i + 1 == suggestions.size() ? " or " : ", ";
      out += "'" + suggestions[i] + "'";
    }
    out += "?";
  }
  return out;
}

}  // namespace

Error::Error(ErrorCode code, std::string message, ErrorLocation location,
             std::vector<std::string> suggestions)
    : code_(code),
      message_(std::move(message)),
      location_(std::move(location)),
      suggestions_(std::move(suggestions)),
      rendered_(Render(message_, location_, suggestions_)) {}

}  // namespace skycore
