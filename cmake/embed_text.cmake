# Writes a C++ source defining `const std::string& <FUNCTION>()` whose value is the bytes of file
# IN, so a library carries a text (the observer's page) without reading a file at run time.
# Usage: cmake -DIN=file -DOUT=file.cpp -DFUNCTION=microlith::observer_page -DHEADER=... -P embed_text.cmake
file(READ "${IN}" content)
string(FIND "${content}" ")microlith_text\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw string's delimiter )microlith_text\"")
endif()
string(REGEX REPLACE "::[^:]*$" "" namespace "${FUNCTION}")
string(REGEX REPLACE "^.*::" "" name "${FUNCTION}")
file(WRITE "${OUT}.tmp" "// Generated from ${IN} by cmake/embed_text.cmake: do not edit.
#include \"${HEADER}\"

namespace ${namespace} {

const std::string& ${name}() {
  static const std::string text = R\"microlith_text(${content})microlith_text\";
  return text;
}

} // namespace ${namespace}
")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
