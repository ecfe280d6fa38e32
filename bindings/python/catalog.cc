// Catalog and optimizer bindings (filled in with the catalog).
#include "bindings.h"

namespace skycore::python {

void BindCatalog(py::module_&) {}

}  // namespace skycore::python
