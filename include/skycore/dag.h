// skycore/dag.h — tasks and the order between them.
//
// A Dag owns shared references to its tasks, so a caller that keeps a Task
// pointer (the Python SDK does) sees later edits reflected in the Dag. A
// multi-document task YAML loads as a chain: each task depends on the previous.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "skycore/task.h"

namespace skycore {

class Dag {
 public:
  Dag() = default;

  const std::optional<std::string>& name() const noexcept { return name_; }
  void set_name(std::optional<std::string> name) { name_ = std::move(name); }

  // Adds a task (no-op if this very task is already in the Dag); returns its index.
  size_t add(std::shared_ptr<Task> task);
  // Adds both tasks if needed and the edge upstream -> downstream.
  // Throws InvalidTaskError if the edge would close a cycle.
  void add_edge(const std::shared_ptr<Task>& upstream, const std::shared_ptr<Task>& downstream);

  const std::vector<std::shared_ptr<Task>>& tasks() const noexcept { return tasks_; }
  size_t size() const noexcept { return tasks_.size(); }
  // Edges as (upstream index, downstream index).
  const std::vector<std::pair<size_t, size_t>>& edges() const noexcept { return edges_; }
  std::vector<size_t> upstream_of(size_t index) const;
  std::vector<size_t> downstream_of(size_t index) const;

  // True when the tasks form one path (0 or 1 tasks included).
  bool is_chain() const;
  // Task indices, every task after all of its upstreams; ties by insertion.
  std::vector<size_t> topological_order() const;

 private:
  std::optional<size_t> index_of(const Task* task) const;
  std::optional<std::string> name_;
  std::vector<std::shared_ptr<Task>> tasks_;
  std::vector<std::pair<size_t, size_t>> edges_;
};

}  // namespace skycore
