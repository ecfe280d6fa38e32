#include "skycore/dag.h"

#include <fmt/format.h>

#include <algorithm>

#include "skycore/error.h"

namespace skycore {

std::optional<size_t> Dag::index_of(const Task* task) const {
  for (size_t i = 0; i < tasks_.size(); ++i) {
    if (tasks_[i].get() == task) return i;
  }
  return std::nullopt;
}

size_t Dag::add(std::shared_ptr<Task> task) {
  if (!task) throw InvalidTaskError("cannot add a null task to a Dag.");
  if (auto index = index_of(task.get())) return *index;
  tasks_.push_back(std::move(task));
  return tasks_.size() - 1;
}

void Dag::add_edge(const std::shared_ptr<Task>& upstream, const std::shared_ptr<Task>& downstream) {
  const size_t from = add(upstream);
  const size_t to = add(downstream);
  if (from == to) throw InvalidTaskError("a task cannot depend on itself.");
  if (std::find(edges_.begin(), edges_.end(), std::make_pair(from, to)) != edges_.end()) return;
  // Reject cycles: `to` must not already reach `from`.
  std::vector<size_t> stack{to};
  std::vector<bool> seen(tasks_.size(), false);
  while (!stack.empty()) {
    size_t node = stack.back();
    stack.pop_back();
    if (node == from) {
      throw InvalidTaskError(fmt::format("adding the edge {} -> {} would create a cycle.",
                                         upstream->name().value_or("<unnamed>"),
                                         downstream->name().value_or("<unnamed>")));
    }
    if (seen[node]) continue;
    seen[node] = true;
    for (size_t next : downstream_of(node)) stack.push_back(next);
  }
  edges_.emplace_back(from, to);
}

std::vector<size_t> Dag::upstream_of(size_t index) const {
  std::vector<size_t> out;
  for (const auto& [from, to] : edges_) {
    if (to == index) out.push_back(from);
  }
  return out;
}

std::vector<size_t> Dag::downstream_of(size_t index) const {
  std::vector<size_t> out;
  for (const auto& [from, to] : edges_) {
    if (from == index) out.push_back(to);
  }
  return out;
}

bool Dag::is_chain() const {
  if (tasks_.size() <= 1) return edges_.empty();
  if (edges_.size() != tasks_.size() - 1) return false;
  std::vector<int> in(tasks_.size(), 0), out(tasks_.size(), 0);
  for (const auto& [from, to] : edges_) {
    ++out[from];
    ++in[to];
  }
  for (size_t i = 0; i < tasks_.size(); ++i) {
    if (in[i] > 1 || out[i] > 1) return false;
  }
  return true;  // n-1 edges, degrees <= 1 and acyclic: one path
}

std::vector<size_t> Dag::topological_order() const {
  std::vector<int> in(tasks_.size(), 0);
  for (const auto& edge : edges_) ++in[edge.second];
  std::vector<size_t> order;
  std::vector<bool> done(tasks_.size(), false);
  // Kahn's algorithm, always taking the lowest ready index for a stable order.
  while (order.size() < tasks_.size()) {
    size_t next = tasks_.size();
    for (size_t i = 0; i < tasks_.size(); ++i) {
      if (!done[i] && in[i] == 0) {
        next = i;
        break;
      }
    }
    if (next == tasks_.size()) throw InternalError("the Dag has a cycle.");
    done[next] = true;
    order.push_back(next);
    for (size_t d : downstream_of(next)) --in[d];
  }
  return order;
}

}  // namespace skycore
