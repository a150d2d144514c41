// Secrets are overwritten in memory before it is given back: the whole buffer a string ever
// used (not only its current size), on every way out of a scope, and a JSON document's copy
// in place.
#include "util/secret.hpp"

#include <boost/json/object.hpp>
#include <boost/test/unit_test.hpp>
#include <stdexcept>
#include <string>

#include "present/documents.hpp"

namespace {

// True when the `size` bytes at `bytes` are all zero.
bool allZero(const char* bytes, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    if (bytes[i] != '\0') {
      return false;
    }
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(secret)

BOOST_AUTO_TEST_CASE(wipe_overwrites_the_whole_buffer_not_only_the_size) {
  for (const size_t length : {size_t{5}, size_t{15}, size_t{64}, size_t{4097}}) {
    std::string key(length, 'k');
    key.resize(length / 2);  // shrunk: the bytes past size() still hold the secret's tail
    const char* buffer = key.data();
    const size_t capacity = key.capacity();
    BOOST_TEST_REQUIRE(capacity >= length);
    api::wipe(key);
    BOOST_TEST(key.empty());
    BOOST_TEST_REQUIRE(key.data() == buffer);  // wiped in place, never reallocated
    BOOST_TEST(allZero(buffer, capacity), "length " << length);
  }
}

BOOST_AUTO_TEST_CASE(wipe_on_exit_wipes_however_the_scope_is_left) {
  std::string key(48, 's');
  const char* buffer = key.data();
  try {
    const api::WipeOnExit wiped(key);
    throw std::runtime_error("a failure while the key is held");
  } catch (const std::runtime_error&) {
  }
  BOOST_TEST(key.empty());
  BOOST_TEST(allZero(buffer, 48));

  std::string other(48, 's');
  { const api::WipeOnExit wiped(other); }
  BOOST_TEST(other.empty());
}

BOOST_AUTO_TEST_CASE(a_documents_secret_is_wiped_in_place_and_nothing_else) {
  boost::json::object document;
  document["secret"] = "sk_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN";
  document["key"] = boost::json::object{{"id", "key_0011223344556677"}};
  const boost::json::string& secret = document.at("secret").as_string();
  const char* bytes = secret.data();
  const size_t size = secret.size();
  api::wipeSecret(document);
  BOOST_TEST(allZero(bytes, size));
  BOOST_TEST(document.at("key").as_object().at("id").as_string() == "key_0011223344556677");

  boost::json::object without;  // no secret, or not a string: left alone
  without["secret"] = 42;
  api::wipeSecret(without);
  BOOST_TEST(without.at("secret").as_int64() == 42);
}

BOOST_AUTO_TEST_SUITE_END()
