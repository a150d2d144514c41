#include "keys/key_codec.hpp"

#include <boost/test/unit_test.hpp>
#include <set>
#include <string>

namespace {
constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}

BOOST_AUTO_TEST_SUITE(key_codec)

BOOST_AUTO_TEST_CASE(crc32_and_sha256_match_their_reference_vectors) {
  const std::string check = "123456789";
  BOOST_TEST(api::crc32(reinterpret_cast<const unsigned char*>(check.data()), check.size()) ==
             0xCBF43926u);
  BOOST_TEST(api::hashKey("abc") ==
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

BOOST_AUTO_TEST_CASE(generated_keys_round_trip_and_are_unique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string key = api::generateKey("sk_");
    BOOST_REQUIRE(key.size() == 3 + api::kKeyBodyLength);
    BOOST_REQUIRE(key.rfind("sk_", 0) == 0);
    BOOST_REQUIRE(key.substr(3).find_first_not_of(kAlphabet) == std::string::npos);
    BOOST_REQUIRE(api::isWellFormedKey(key, "sk_"));
    seen.insert(key);
  }
  BOOST_TEST(seen.size() == 1000u);
  const std::string custom = api::generateKey("pk_live_");
  BOOST_TEST(api::isWellFormedKey(custom, "pk_live_"));
  BOOST_TEST(!api::isWellFormedKey(custom, "sk_"));
  BOOST_TEST(api::displayPrefix(custom) == custom.substr(0, 8));
}

BOOST_AUTO_TEST_CASE(the_checksum_rejects_every_single_character_change) {
  for (int round = 0; round < 20; ++round) {
    const std::string key = api::generateKey("sk_");
    for (size_t pos = 0; pos < key.size(); ++pos) {
      for (char c : kAlphabet) {
        if (c == key[pos]) {
          continue;
        }
        std::string changed = key;
        changed[pos] = c;
        BOOST_REQUIRE_MESSAGE(!api::isWellFormedKey(changed, "sk_"),
                              "accepted a change at position " << pos);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(wrong_prefix_length_and_alphabet_are_rejected) {
  const std::string key = api::generateKey("sk_");
  BOOST_TEST(!api::isWellFormedKey("", "sk_"));
  BOOST_TEST(!api::isWellFormedKey("sk_", "sk_"));
  BOOST_TEST(!api::isWellFormedKey(key.substr(0, key.size() - 1), "sk_"));
  BOOST_TEST(!api::isWellFormedKey(key + "A", "sk_"));
  BOOST_TEST(!api::isWellFormedKey("pk_" + key.substr(3), "sk_"));
  BOOST_TEST(!api::isWellFormedKey(key.substr(3), "sk_"));
  for (char bad : {'+', '/', '=', ' ', '.', '\0', '\xff'}) {
    std::string changed = key;
    changed[10] = bad;
    BOOST_TEST(!api::isWellFormedKey(changed, "sk_"), "accepted byte " << int(bad));
  }
}

BOOST_AUTO_TEST_CASE(the_original_systems_keys_are_told_apart_by_shape) {
  // 32 bytes, base64url without padding: 43 characters, the last one's low two bits zero.
  const std::string body = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8A";
  BOOST_REQUIRE(body.size() == api::kLegacyKeyBodyLength);
  BOOST_TEST(api::isLegacyKey("sk_" + body, "sk_"));
  BOOST_TEST(!api::isWellFormedKey("sk_" + body, "sk_"));                  // no checksum to carry
  BOOST_TEST(!api::isLegacyKey("pk_" + body, "sk_"));                      // another prefix
  BOOST_TEST(!api::isLegacyKey("sk_" + body + "A", "sk_"));                // 44 characters
  BOOST_TEST(!api::isLegacyKey("sk_" + body.substr(1), "sk_"));            // 42
  BOOST_TEST(!api::isLegacyKey("sk_" + body.substr(0, 42) + "B", "sk_"));  // not canonical
  BOOST_TEST(!api::isLegacyKey("sk_" + body.substr(0, 42) + "=", "sk_"));  // padding
  BOOST_TEST(!api::isLegacyKey("sk_" + body.substr(0, 20) + "+" + body.substr(21), "sk_"));
  const std::string ours = api::generateKey("sk_");
  BOOST_TEST(!api::isLegacyKey(ours, "sk_"));  // 48 characters: never mistaken for one
}

BOOST_AUTO_TEST_SUITE_END()
