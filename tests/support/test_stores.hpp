// The stores the plugin suites run on: SQLite or PostgreSQL, as test_database.hpp chooses.
#pragma once

#include <boost/test/tools/assertion_result.hpp>
#include <boost/test/tree/decorator.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "store/stores.hpp"
#include "test_database.hpp"

namespace testing_support {

// The stores on a location as TestDatabase gives it: a path opens the SQLite store (waiting
// up to busy_timeout_ms for another connection's lock), a URL the PostgreSQL one (calls bounded
// by busy_timeout_ms, at least 100 ms).
std::unique_ptr<api::Stores> openTestStores(const std::string& location,
                                            std::int64_t busy_timeout_ms);

// The store settings naming the location.
api::StoreSettings testStoreSettings(const std::string& location, std::int64_t busy_timeout_ms);

}  // namespace testing_support
