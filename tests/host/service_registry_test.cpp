#include "service_registry.hpp"

#include <boost/test/unit_test.hpp>
#include <stdexcept>

BOOST_AUTO_TEST_SUITE(service_registry)

BOOST_AUTO_TEST_CASE(finds_by_module_name_and_compatible_version) {
  host::ServiceRegistry registry;
  const int table = 0;
  registry.add("api", "ApiKeyService", 1 /* major */, 2 /* minor */, &table);
  uint32_t served = 0;
  BOOST_TEST(registry.find("api", "ApiKeyService", 1, 0, &served) == &table);
  BOOST_TEST(served == 2u);
  BOOST_TEST(registry.find("api", "ApiKeyService", 1, 2, nullptr) == &table);
  BOOST_TEST(registry.find("api", "ApiKeyService", 1, 3, nullptr) == nullptr);  // too old
  BOOST_TEST(registry.find("api", "ApiKeyService", 2, 0, nullptr) == nullptr);  // other major
  BOOST_TEST(registry.find("other", "ApiKeyService", 1, 0, nullptr) == nullptr);
  BOOST_TEST(registry.find("api", "Nope", 1, 0, nullptr) == nullptr);
}

BOOST_AUTO_TEST_CASE(keeps_two_majors_of_one_service_side_by_side) {
  host::ServiceRegistry registry;
  const int v1 = 0;
  const int v2 = 0;
  registry.add("api", "ApiKeyService", 1 /* major */, 3 /* minor */, &v1);
  registry.add("api", "ApiKeyService", 2 /* major */, 0 /* minor */, &v2);
  uint32_t served = 0;
  BOOST_TEST(registry.find("api", "ApiKeyService", 1, 2, &served) == &v1);
  BOOST_TEST(served == 3u);
  BOOST_TEST(registry.find("api", "ApiKeyService", 2, 0, &served) == &v2);
  BOOST_TEST(served == 0u);
  BOOST_TEST(registry.find("api", "ApiKeyService", 2, 1, nullptr) == nullptr);
  BOOST_TEST(registry.find("api", "ApiKeyService", 3, 0, nullptr) == nullptr);
  BOOST_CHECK_THROW(registry.add("api", "ApiKeyService", 2, 5, &v2), std::invalid_argument);
  registry.removeModule("api");
  BOOST_TEST(registry.find("api", "ApiKeyService", 1, 0, nullptr) == nullptr);
  BOOST_TEST(registry.find("api", "ApiKeyService", 2, 0, nullptr) == nullptr);
}

BOOST_AUTO_TEST_CASE(rejects_a_second_registration_and_forgets_a_removed_module) {
  host::ServiceRegistry registry;
  const int table = 0;
  registry.add("api", "RateLimitService", 1, 0, &table);
  BOOST_CHECK_THROW(registry.add("api", "RateLimitService", 1, 1, &table), std::invalid_argument);
  registry.removeModule("api");
  BOOST_TEST(registry.find("api", "RateLimitService", 1, 0, nullptr) == nullptr);
  registry.add("api", "RateLimitService", 1, 1, &table);  // allowed again after removal
}

BOOST_AUTO_TEST_SUITE_END()
