#include "cli/terminal.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "common/strings.h"

namespace skycore::cli {
namespace {

bool NotCi() { return std::getenv("CI") == nullptr; }

void WriteStderr(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

constexpr const char* kSpinnerFrames[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};

// "2 mins", "1 hr": a count and its unit in SkyPilot's abbreviations.
std::string Plural(int64_t count, std::string_view unit) {
  return fmt::format("{} {}{}", count, unit, count == 1 ? "" : "s");
}

}  // namespace

bool FancyStderr() { return ::isatty(2) != 0 && NotCi(); }
bool FancyStdout() { return ::isatty(1) != 0 && NotCi(); }
bool InteractiveStdin() { return ::isatty(0) != 0; }

std::string Style(std::string_view text, std::string_view ansi_code, bool enabled) {
  if (!enabled) return std::string(text);
  return fmt::format("\033[{}m{}\033[0m", ansi_code, text);
}

std::string ColoredStatus(std::string_view status, bool enabled) {
  std::string_view code;
  if (status == "UP" || status == "SUCCEEDED" || status == "RUNNING") {
    code = kGreen;
  } else if (status == "INIT" || status == "PENDING" || status == "SETTING_UP") {
    code = "34";  // blue
  } else if (status == "STOPPED" || status == "CANCELLED") {
    code = kYellow;
  } else if (status.starts_with("FAILED")) {
    code = kRed;
  } else if (status == "TERMINATED") {
    code = kDim;
  }
  return code.empty() ? std::string(status) : Style(status, code, enabled);
}

bool Confirm(std::string_view question) {
  if (!InteractiveStdin()) return true;
  WriteStderr(fmt::format("{} [Y/n]: ", question));
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  const std::string word = strings::Lower(strings::Trim(answer));
  return word.empty() || word == "y" || word == "yes";
}

std::string TimeAgo(double start_s, double now_s) {
  if (start_s <= 0) return "-";
  const double seconds = now_s - start_s;
  if (seconds < 1) return "< 1 sec";
  const auto s = static_cast<int64_t>(seconds);
  const int64_t days = s / 86400;
  std::string amount;
  if (days >= 365) {
    amount = Plural(days / 365, "year");
  } else if (days >= 30) {
    amount = Plural(days / 30, "month");
  } else if (days >= 7) {
    amount = Plural(days / 7, "week");
  } else if (days > 0) {
    amount = Plural(days, "day");
  } else if (s >= 3600) {
    amount = Plural(s / 3600, "hr");
  } else if (s >= 60) {
    amount = Plural(s / 60, "min");
  } else if (s < 10) {
    amount = "a few secs";
  } else {
    amount = Plural(s, "sec");
  }
  return amount + " ago";
}

std::string Duration(double start_s, double end_s) {
  if (start_s <= 0) return "-";
  const double seconds = end_s - start_s;
  if (seconds < 1) return "< 1s";
  auto s = static_cast<int64_t>(seconds);
  std::vector<std::string> parts;
  const std::pair<int64_t, const char*> units[] = {
      {7 * 86400, "w"}, {86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
  for (const auto& [size, suffix] : units) {
    if (s >= size) {
      parts.push_back(fmt::format("{}{}", s / size, suffix));
      s %= size;
    }
  }
  return fmt::format("{}", fmt::join(parts, " "));
}

// ------------------------------------------------------------ TerminalSink

TerminalSink::TerminalSink(bool fancy) : fancy_(fancy) {
  if (fancy_) spinner_ = std::thread([this] { SpinLoop(); });
}

TerminalSink::~TerminalSink() {
  {
    std::lock_guard lock(mu_);
    FinishStepLocked(false);
    stopping_ = true;
  }
  wake_.notify_all();
  if (spinner_.joinable()) spinner_.join();
}

void TerminalSink::Write(std::string_view text) {
  if (text.empty()) return;
  std::lock_guard lock(mu_);
  ClearSpinnerLocked();
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  stdout_mid_line_ = text.back() != '\n';
}

void TerminalSink::Step(std::string_view name) {
  std::lock_guard lock(mu_);
  FinishStepLocked(true);
  step_ = std::string(name);
  while (!step_.empty() && (step_.back() == '\n' || step_.back() == '.')) step_.pop_back();
  step_started_ = std::chrono::steady_clock::now();
  if (step_.empty()) return;
  if (!fancy_) {
    WriteStderr(step_ + "...\n");
    return;
  }
  DrawSpinnerLocked();
}

void TerminalSink::StepDone() {
  std::lock_guard lock(mu_);
  FinishStepLocked(true);
}

void TerminalSink::Abandon() {
  std::lock_guard lock(mu_);
  FinishStepLocked(false);
}

void TerminalSink::Message(std::string_view line) {
  std::lock_guard lock(mu_);
  ClearSpinnerLocked();
  if (stdout_mid_line_) {
    std::fputs("\n", stdout);
    std::fflush(stdout);
    stdout_mid_line_ = false;
  }
  WriteStderr(std::string(line) + "\n");
}

void TerminalSink::SpinLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(100));
    if (stopping_) break;
    if (!step_.empty()) {
      ++frame_;
      DrawSpinnerLocked();
    }
  }
}

void TerminalSink::ClearSpinnerLocked() {
  if (!spinner_shown_) return;
  WriteStderr("\r\033[K");
  spinner_shown_ = false;
}

void TerminalSink::DrawSpinnerLocked() {
  // Job output that has not finished its line owns the cursor; drawing over
  // it would garble both.
  if (!fancy_ || step_.empty() || stdout_mid_line_) return;
  const double elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - step_started_).count();
  WriteStderr(fmt::format(
      "\r\033[K{} {} {}", Style(kSpinnerFrames[frame_ % std::size(kSpinnerFrames)], kCyan, true),
      Style(step_, kBold, true), Style(fmt::format("({:.1f}s)", elapsed_s), kDim, true)));
  spinner_shown_ = true;
}

void TerminalSink::FinishStepLocked(bool success) {
  if (step_.empty()) return;
  ClearSpinnerLocked();
  if (fancy_ && success) {
    if (stdout_mid_line_) {
      std::fputs("\n", stdout);
      std::fflush(stdout);
      stdout_mid_line_ = false;
    }
    WriteStderr(Style("✓ " + step_, kGreen, true) + "\n");
  }
  step_.clear();
}

}  // namespace skycore::cli
