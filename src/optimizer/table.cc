// FormatOptimizerTable: the "Considered resources" table, one block per task.
#include <fmt/format.h>

#include <algorithm>

#include "common/strings.h"
#include "infra/descriptor.h"
#include "skycore/optimizer.h"

namespace skycore {
namespace {

std::string InfraCell(const Candidate& c) {
  const auto& descriptor = infra::DescribeInfra(c.infra);
  std::string name = descriptor.display_name.empty() ? c.infra : descriptor.display_name;
  if (c.region.empty()) return name;
  return fmt::format("{} ({})", name, c.zone.empty() ? c.region : c.region + ", " + c.zone);
}

std::string GpuCell(const Candidate& c) {
  if (c.accelerator_name.empty()) return "-";
  return c.accelerator_name + ":" + strings::FormatNumber(c.accelerator_count);
}

std::string NumberCell(double value) {
  if (value <= 0) return "-";
  return strings::FormatNumber(std::round(value * 100) / 100);
}

bool SamePlace(const Candidate& a, const Candidate& b) {
  return a.alternative == b.alternative && a.infra == b.infra && a.region == b.region &&
         a.zone == b.zone && a.instance_type == b.instance_type;
}

// Display width of UTF-8 text (the check mark is one column).
size_t Width(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) width += (c & 0xC0) != 0x80;
  return width;
}

}  // namespace

std::string FormatOptimizerTable(const Dag& dag, const Plan& plan, bool unicode_check) {
  const std::vector<std::string> header = {"INFRA", "INSTANCE", "vCPUs", "Mem(GB)",
                                           "GPUS",  "COST ($)", "CHOSEN"};
  const std::string check = unicode_check ? "\u2714" : "*";
  const bool minimize_cost = plan.target == OptimizeTarget::kCost;
  std::string out;
  for (const TaskPlan& task_plan : plan.tasks) {
    const Task& task = *dag.tasks()[task_plan.task_index];
    // One row per infra and alternative (the cheapest), with the chosen
    // candidate replacing its group's row when the DAG chose otherwise.
    std::vector<Candidate> rows;
    for (const Candidate& c : task_plan.considered) {
      if (c.infra == task_plan.chosen.infra && c.alternative == task_plan.chosen.alternative) {
        rows.push_back(task_plan.chosen);
      } else {
        rows.push_back(c);
      }
    }
    const bool ordered = task.resources().is_ordered();
    std::stable_sort(rows.begin(), rows.end(), [&](const Candidate& a, const Candidate& b) {
      if (ordered && a.alternative != b.alternative) return a.alternative < b.alternative;
      return minimize_cost ? a.cost < b.cost : a.hours < b.hours;
    });
    std::vector<std::vector<std::string>> cells;
    for (const Candidate& c : rows) {
      double objective = minimize_cost ? c.cost : c.hours;
      cells.push_back({InfraCell(c), c.instance_type + (c.use_spot ? "[Spot]" : ""),
                       NumberCell(c.vcpus), NumberCell(c.memory_gib), GpuCell(c),
                       fmt::format("{:.2f}", objective),
                       SamePlace(c, task_plan.chosen) ? check : ""});
    }
    std::vector<size_t> widths;
    for (const auto& h : header) widths.push_back(Width(h));
    for (const auto& row : cells) {
      for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], Width(row[i]));
    }
    auto line = [&](const std::vector<std::string>& row) {
      std::string text;
      for (size_t i = 0; i < row.size(); ++i) {
        text += " " + row[i];
        if (i + 1 < row.size()) text += std::string(widths[i] - Width(row[i]) + 2, ' ');
      }
      while (!text.empty() && text.back() == ' ') text.pop_back();
      return text + "\n";
    };
    size_t total = 0;
    for (size_t w : widths) total += w + 3;
    const std::string rule(total, '-');
    const std::string name_part =
        plan.tasks.size() > 1 ? fmt::format("for task '{}' ", task.name().value_or("")) : "";
    if (!out.empty()) out += "\n";
    out += fmt::format("Considered resources {}({} node{}):\n", name_part, task.num_nodes(),
                       task.num_nodes() == 1 ? "" : "s");
    out += rule + "\n" + line(header) + rule + "\n";
    for (const auto& row : cells) out += line(row);
    out += rule + "\n";
  }
  return out;
}

}  // namespace skycore
