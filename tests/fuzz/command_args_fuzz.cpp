// The module's side of a command's arguments (plugin/src/cli/args.* CommandArgs): the JSON
// object the host passes, read through typed accessors.
//
// Properties:
//  - the constructor accepts exactly the texts that are a JSON object, refusing others with
//    std::invalid_argument;
//  - for every key of an accepted object, each accessor either gives a value of its type,
//    equal to the JSON value, or refuses with std::invalid_argument (InvalidInput for an
//    integer asked of a fractional number): string() gives the text of a JSON string and
//    refuses every other scalar; integer() gives an int64 and refuses every other scalar;
//    flag() is true for true only; a null, a list or a mapping reads as absent;
//  - a name that is not in the object reads as absent.
//
// Input: the JSON text.
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "cli/args.hpp"
#include "domain/errors.hpp"
#include "fuzz_check.hpp"

namespace {

namespace json = boost::json;

enum class Outcome { kValue, kAbsent, kRefused, kRefusedAsInput };

template <typename Get>
Outcome outcomeOf(Get get) {
  try {
    return get().has_value() ? Outcome::kValue : Outcome::kAbsent;
  } catch (const api::InvalidInput&) {
    return Outcome::kRefusedAsInput;
  } catch (const std::invalid_argument&) {
    return Outcome::kRefused;
  }
}

void checkKey(const api::CommandArgs& args, const std::string& name, const json::value& value) {
  const bool scalar = value.is_string() || value.is_number() || value.is_bool();
  const auto text = [&] { return args.string(name); };
  const auto integer = [&] { return args.integer(name, "--" + name); };

  const Outcome text_outcome = outcomeOf(text);
  if (!scalar) {
    FUZZ_CHECK(text_outcome == Outcome::kAbsent);
  } else if (value.is_string()) {
    FUZZ_CHECK(text_outcome == Outcome::kValue);
    FUZZ_CHECK(*text() == value.as_string());
  } else {
    FUZZ_CHECK(text_outcome == Outcome::kRefused);
  }

  const Outcome integer_outcome = outcomeOf(integer);
  if (!scalar) {
    FUZZ_CHECK(integer_outcome == Outcome::kAbsent);
  } else if (value.is_int64()) {
    FUZZ_CHECK(integer_outcome == Outcome::kValue);
    FUZZ_CHECK(*integer() == value.as_int64());
  } else if (value.is_uint64() || value.is_double()) {
    FUZZ_CHECK(integer_outcome == Outcome::kRefusedAsInput);
  } else {
    FUZZ_CHECK(integer_outcome == Outcome::kRefused);
  }

  FUZZ_CHECK(args.flag(name) == (value.is_bool() && value.as_bool()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  const std::string_view text = fuzz::asText(data, size);
  boost::system::error_code ec;
  const json::value reference = json::parse(text, ec);
  const bool is_object = !ec && reference.is_object();

  std::optional<api::CommandArgs> args;
  try {
    args.emplace(text);
  } catch (const std::invalid_argument&) {
    FUZZ_CHECK(!is_object);
    return 0;
  }
  FUZZ_CHECK(is_object);
  for (const auto& [key, value] : reference.as_object()) {
    checkKey(*args, std::string(key), value);
  }
  const std::string missing = "not a key of the object";
  if (!reference.as_object().contains(missing)) {
    FUZZ_CHECK(!args->string(missing).has_value());
    FUZZ_CHECK(!args->integer(missing, "--missing").has_value());
    FUZZ_CHECK(!args->flag(missing));
  }
  return 0;
}
