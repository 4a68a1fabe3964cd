// What this build of the acme.statements module is, from its compile definitions, so that two
// versions of the module are the same sources built twice:
//   ACME_STATEMENTS_FORMAT   1 (default): statements as plain text; 2: as CSV rows
//   ACME_STATEMENTS_VERSION  the version reported in every statement ("1.0.0" by default)
#pragma once

#include "statement_format.hpp"

#ifndef ACME_STATEMENTS_FORMAT
#define ACME_STATEMENTS_FORMAT 1
#endif

#ifndef ACME_STATEMENTS_VERSION
#define ACME_STATEMENTS_VERSION "1.0.0"
#endif

static_assert(ACME_STATEMENTS_FORMAT == 1 || ACME_STATEMENTS_FORMAT == 2,
              "ACME_STATEMENTS_FORMAT must be 1 (plain text) or 2 (CSV): fix the module's "
              "target_compile_definitions");

namespace acme::statements {

/// The layout of the statements this build answers.
inline constexpr statement_format built_format =
  static_cast<statement_format>(ACME_STATEMENTS_FORMAT);

/// The version of the module this build is, reported in every statement.
inline constexpr const char* built_version = ACME_STATEMENTS_VERSION;

} // namespace acme::statements
