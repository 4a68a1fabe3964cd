#include "microlith/services/module_manifest.hpp"

#include "modules/build_abi.hpp"

namespace microlith {

module_abi running_abi() {
  return module_abi{detail::build_abi::microlith, detail::build_abi::caf,
                    detail::build_abi::protobuf, detail::build_abi::compiler,
                    detail::build_abi::cxx_abi};
}

} // namespace microlith
