// The terminal side of the `sky` command: progress output (a spinner on a
// terminal, plain lines in a pipe), confirmation prompts, colour, tables and
// SkyPilot's human-readable times.
//
// Conventions: job output, tables and hints go to stdout; progress and
// prompts go to stderr, so `sky queue c > jobs.txt` stays clean.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/table.h"
#include "skycore/sdk.h"

namespace skycore::cli {

// True when stderr is a terminal and $CI is unset: spinner and colour.
bool FancyStderr();
// True when stdout is a terminal and $CI is unset: colour in tables and hints.
bool FancyStdout();
// True when stdin is a terminal (prompts are only asked then).
bool InteractiveStdin();

// ANSI styling, applied only when `enabled`.
std::string Style(std::string_view text, std::string_view ansi_code, bool enabled);
inline constexpr std::string_view kBold = "1";
inline constexpr std::string_view kDim = "2";
inline constexpr std::string_view kRed = "31";
inline constexpr std::string_view kGreen = "32";
inline constexpr std::string_view kYellow = "33";
inline constexpr std::string_view kCyan = "36";

// A status word coloured as SkyPilot colours it (UP green, INIT blue, STOPPED
// yellow, FAILED red, ...).
std::string ColoredStatus(std::string_view status, bool enabled);

// Asks "<question> [Y/n]: " on stderr and reads a line from stdin; empty or
// y/yes → true. Without a terminal on stdin, returns true without asking (as
// scripts and CI expect).
bool Confirm(std::string_view question);

// SkyPilot's log_utils.readable_time_duration: "a few secs ago", "3 mins ago",
// "1 hr ago", ...; "-" when `start_s` is not positive.
std::string TimeAgo(double start_s, double now_s);
// The absolute form: "1h 2m 3s", "< 1s"; "-" when `start_s` is not positive.
std::string Duration(double start_s, double end_s);

// An OutputSink for the terminal. Write() passes text to stdout unchanged.
// Step() on a terminal shows "⠋ <step> (3.2s)" on stderr, redrawn by a small
// thread and replaced by "✓ <step>" when the next step starts or the step is
// done; without a terminal it prints "<step>..." once.
class TerminalSink : public OutputSink {
 public:
  explicit TerminalSink(bool fancy = FancyStderr());
  ~TerminalSink() override;
  TerminalSink(const TerminalSink&) = delete;
  TerminalSink& operator=(const TerminalSink&) = delete;

  void Write(std::string_view text) override;
  void Step(std::string_view name) override;
  void StepDone() override;

  // Ends the current step without a ✓ (it failed or was interrupted).
  void Abandon();
  // A line of progress on stderr ("✓ Job finished ..."), after clearing the
  // spinner.
  void Message(std::string_view line);

 private:
  void SpinLoop();
  void ClearSpinnerLocked();
  void DrawSpinnerLocked();
  void FinishStepLocked(bool success);

  const bool fancy_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::string step_;  // empty: no step in progress
  std::chrono::steady_clock::time_point step_started_;
  bool spinner_shown_ = false;
  bool stdout_mid_line_ = false;  // job output ended without a newline
  size_t frame_ = 0;
  bool stopping_ = false;
  std::thread spinner_;
};

}  // namespace skycore::cli
