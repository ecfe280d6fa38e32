// skycore/version.h — the library's version.
#pragma once

namespace skycore {

// "MAJOR.MINOR.PATCH" of the linked library (may differ from the headers').
const char* Version() noexcept;

}  // namespace skycore
