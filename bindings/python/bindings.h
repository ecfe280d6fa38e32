// Shared declarations of the sky._skycore extension: one Bind* per area.
#pragma once

#include <pybind11/pybind11.h>

#include <nlohmann/json.hpp>

namespace skycore::python {

namespace py = pybind11;

void BindErrors(py::module_& m);
void BindModel(py::module_& m);
void BindCatalog(py::module_& m);
void BindSdk(py::module_& m);

// Python values <-> JSON for config dicts. Raises TypeError for values that
// have no JSON form, naming where (`context`).
nlohmann::json ToJson(const py::handle& value, const std::string& context);
py::object FromJson(const nlohmann::json& value);
py::object FromJson(const nlohmann::ordered_json& value);

}  // namespace skycore::python
