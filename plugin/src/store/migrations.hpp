// The schema migrations of each backend, compiled into the module at build time (see
// cmake/embed_migrations.cmake), in ascending version order.
#pragma once

#include <span>
#include <string_view>

namespace api {

struct Migration {
  int version;            // NNNN of the file name; contiguous from 1
  std::string_view name;  // the file name without extension
  std::string_view sql;   // the whole file
};

// SQLite's, from schema/NNNN_name.sql.
std::span<const Migration> schemaMigrations();
// PostgreSQL's, from schema/postgres/NNNN_name.sql.
std::span<const Migration> postgresMigrations();

}  // namespace api
