// validate_task: loads task YAMLs with skycore and prints what each asks for.
//   validate_task task.yaml [more.yaml ...]
// Exits 0 when every file is valid, 2 otherwise (with the error on stderr).
#include <skycore/skycore.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: validate_task TASK.yaml [...]\n";
    return 2;
  }
  int status = 0;
  for (int i = 1; i < argc; ++i) {
    try {
      skycore::Dag dag = skycore::LoadDagYamlFile(argv[i]);
      for (const auto& task : dag.tasks()) {
        std::cout << argv[i] << ": " << task->name().value_or("<unnamed>") << " on "
                  << task->resources().alternatives()[0].ToString() << "\n";
      }
    } catch (const skycore::Error& e) {
      std::cerr << e.what() << "\n";
      status = 2;
    }
  }
  std::cout << "skycore " << skycore::Version() << "\n";
  return status;
}
