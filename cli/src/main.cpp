// The `microlith` program: the command line over the modules linked into this build.
#include "microlith/cli/main.hpp"

int main(int argc, char** argv) {
  return microlith::cli::main(argc, argv);
}
