// Key secrets and ids come from the RandomSource ApiKeyService is handed.
#include <boost/test/unit_test.hpp>

#include "keys/key_codec.hpp"
#include "seeded_random.hpp"
#include "services/api_key_service.hpp"
#include "store_fixture.hpp"

namespace {

// A store and a key service drawing from a source seeded with `seed`.
struct SeededKeys : testing_support::StoreFixture {
  explicit SeededKeys(std::uint64_t seed)
      : StoreFixture("2026-12-01T00:00:00.000Z"), random(seed) {}

  testing_support::SeededRandom random;
  testing_support::ServiceNode node{path, settings, clock, testing_support::kBusyTimeoutMs, random};
  api::ApiKeyService& keys = node.keys;

  api::CreatedKey create() {
    api::CreateKeyRequest r;
    r.user_id = "u";
    r.name = "k";
    return keys.createKey(r);
  }
};

bool isLowerHex(const std::string& text) {
  return text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(api_key_random)

BOOST_AUTO_TEST_CASE(a_seeded_source_makes_well_formed_distinct_and_repeatable_keys) {
  SeededKeys one(42 /* seed */);
  const api::CreatedKey first = one.create();
  const api::CreatedKey second = one.create();
  for (const api::CreatedKey* k : {&first, &second}) {
    BOOST_TEST(k->secret.size() == 3 + api::kKeyBodyLength);
    BOOST_TEST(k->secret.rfind("sk_", 0) == 0);
    BOOST_TEST(api::isWellFormedKey(k->secret, "sk_"));
    BOOST_TEST(k->key.id.size() == 4 + 16u);
    BOOST_TEST(k->key.id.rfind("key_", 0) == 0);
    BOOST_TEST(isLowerHex(k->key.id.substr(4)));
    BOOST_TEST(one.keys.validateKey(k->secret).valid);
  }
  BOOST_TEST(first.secret != second.secret);
  BOOST_TEST(first.key.id != second.key.id);

  // The same seed gives the same bytes, so the same secret and id; another seed does not.
  SeededKeys again(42 /* seed */);
  const api::CreatedKey replayed = again.create();
  BOOST_TEST(replayed.secret == first.secret);
  BOOST_TEST(replayed.key.id == first.key.id);
  SeededKeys other(43 /* seed */);
  BOOST_TEST(other.create().secret != first.secret);
}

BOOST_AUTO_TEST_CASE(the_system_source_fills_exactly_what_is_asked) {
  unsigned char a[64] = {};
  unsigned char b[64] = {};
  api::systemRandom().fill(a, sizeof(a));
  api::systemRandom().fill(b, sizeof(b));
  BOOST_TEST(std::string(a, a + sizeof(a)) != std::string(b, b + sizeof(b)));
  api::systemRandom().fill(nullptr, 0);  // nothing asked, nothing written
}

BOOST_AUTO_TEST_SUITE_END()
