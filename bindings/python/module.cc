// sky._skycore: the native half of the `sky` package.
#include "bindings.h"
#include "skycore/version.h"

PYBIND11_MODULE(_skycore, m) {
  m.doc() = "Native core of skycore: the task model, YAML, catalog and optimizer.";
  m.attr("__version__") = skycore::Version();
  skycore::python::BindErrors(m);
  skycore::python::BindModel(m);
  skycore::python::BindCatalog(m);
  skycore::python::BindSdk(m);
}
