// Plain-text tables as SkyPilot's CLI prints them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace skycore {

// Prints rows as left-aligned columns separated by two spaces, the first row
// being the header (SkyPilot's borderless prettytable). Cells may hold ANSI
// colour codes; they do not count towards the width.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

// Display width of a cell: bytes outside ANSI escapes, counting each UTF-8
// code point once.
size_t VisibleWidth(std::string_view text);

// SkyPilot's requestable GPU quantities per node for `sky show-gpus`: "1, 2,
// 4, 8" -- powers of two below the largest node's count, and that count.
std::string RequestableQuantities(int max_per_node);

}  // namespace skycore
