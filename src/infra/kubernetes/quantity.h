// Kubernetes resource quantities ("500m", "16Gi", "2", "1e3", "128974848").
#pragma once

#include <string_view>

namespace skycore::kubernetes {

// The quantity in base units (cores, bytes, devices). Throws
// InvalidSkyPilotConfigError for text that is not a quantity.
double ParseQuantity(std::string_view text);

}  // namespace skycore::kubernetes
