// Maps skycore::Error to the classes of sky.exceptions, through one table
// keyed by ErrorCode name, so each C++ error surfaces as SkyPilot's class.
#include <pybind11/stl.h>

#include "bindings.h"
#include "skycore/error.h"

namespace skycore::python {

void BindErrors(py::module_& m) {
  py::register_exception_translator([](std::exception_ptr pointer) {
    if (!pointer) return;
    try {
      std::rethrow_exception(pointer);
    } catch (const Error& e) {
      py::gil_scoped_acquire gil;
      py::object exceptions = py::module_::import("sky.exceptions");
      py::object cls = exceptions.attr("_class_for_code")(ErrorCodeName(e.code()));
      py::object instance = cls(e.what());
      instance.attr("code") = ErrorCodeName(e.code());
      instance.attr("field_path") = e.field_path();
      instance.attr("file") = e.location().file;
      instance.attr("line") = e.location().line;
      instance.attr("column") = e.location().column;
      instance.attr("suggestions") = py::cast(e.suggestions());
      instance.attr("bare_message") = e.message();
      PyErr_SetObject(cls.ptr(), instance.ptr());
    }
  });
  m.def(
      "error_code_names",
      []() {
        std::vector<std::string> names;
        for (int code = 0; code <= static_cast<int>(ErrorCode::kInternal); ++code) {
          names.emplace_back(ErrorCodeName(static_cast<ErrorCode>(code)));
        }
        return names;
      },
      "Names of every ErrorCode (for checking sky.exceptions covers them).");
}

}  // namespace skycore::python
