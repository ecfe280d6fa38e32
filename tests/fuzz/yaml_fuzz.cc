// libFuzzer target: the task YAML loader must survive arbitrary bytes, failing
// only with skycore::Error (never a crash, a hang or another exception).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "skycore/skycore.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  skycore::Dag dag;
  try {
    dag = skycore::LoadDagYaml(text);
  } catch (const skycore::Error&) {
    return 0;  // rejected with a proper error: fine
  }
  // What we accepted must dump and load again; an exception here escapes and
  // libFuzzer reports it as a crash.
  skycore::DumpOptions options;
  options.redact_secrets = false;
  skycore::LoadDagYaml(skycore::DumpDagYaml(dag, options));
  return 0;
}
