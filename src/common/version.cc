#include "skycore/version.h"

namespace skycore {

const char* Version() noexcept { return SKYCORE_VERSION; }

}  // namespace skycore
