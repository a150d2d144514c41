# Generates a C++ source holding every NNNN_name.sql of a directory as a raw string literal,
# so the module carries its migrations and reads no file at run time.
# Inputs: SCHEMA_DIR, OUTPUT, FUNCTION (the accessor's name: schemaMigrations for SQLite's
# schema/, postgresMigrations for schema/postgres/).
file(GLOB sql_files "${SCHEMA_DIR}/[0-9][0-9][0-9][0-9]_*.sql")
list(SORT sql_files)
set(body "")
set(expected 1)
foreach(file IN LISTS sql_files)
  get_filename_component(name "${file}" NAME_WE)
  string(SUBSTRING "${name}" 0 4 digits)
  math(EXPR version "${digits}")
  if(NOT version EQUAL expected)
    message(FATAL_ERROR "schema migration ${name}.sql: expected version ${expected}, "
                        "migrations must be numbered 0001, 0002, ... without gaps")
  endif()
  math(EXPR expected "${expected} + 1")
  file(READ "${file}" sql)
  string(FIND "${sql}" ")sql\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "schema migration ${name}.sql contains the raw-string delimiter )sql\"")
  endif()
  string(APPEND body "    Migration{${version}, \"${name}\", R\"sql(${sql})sql\"},\n")
endforeach()
if(expected EQUAL 1)
  message(FATAL_ERROR "no schema migrations found in ${SCHEMA_DIR}")
endif()
if(NOT FUNCTION)
  set(FUNCTION schemaMigrations)
endif()
set(content "// Generated from ${SCHEMA_DIR} by cmake/embed_migrations.cmake. Do not edit.
#include \"store/migrations.hpp\"

#include <array>

namespace api {
namespace {
constexpr std::array kMigrations{
${body}};
}  // namespace

std::span<const Migration> ${FUNCTION}() { return kMigrations; }

}  // namespace api
")
file(WRITE "${OUTPUT}.tmp" "${content}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
