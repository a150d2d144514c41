// The key codec (keys/key_codec.*) against a reference written here from the format's
// description in key_codec.hpp: <prefix><base64url(32 bytes ++ their CRC-32, big-endian)>.
//
// Properties:
//  - isWellFormedKey agrees with the reference on any text and any prefix;
//  - a key it accepts decodes to 36 bytes that re-encode to exactly the input, holds
//    prefix + 48 base64url characters and carries the CRC-32 of its first 32 bytes;
//  - crc32 agrees with a bitwise CRC-32, and a key built from any 32 bytes is accepted;
//  - isLegacyKey agrees with a reference (prefix + the canonical base64url of 32 bytes), is
//    never true with isWellFormedKey, and holds for the original encoding of any 32 bytes;
//  - changing one character of an accepted key's body makes it rejected (CRC-32 detects
//    every burst of up to 32 bits, and one character is 6 bits);
//  - hashKeyHex is 64 lowercase hex digits, the same twice, and hashKey is its string.
//
// Input: a mode byte; a prefix length byte (0..16) and that many prefix bytes; the rest is
// the key text (mode even) or the 32 random bytes of a key to build (mode odd), whose first
// byte also picks the character to change.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "keys/key_codec.hpp"

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::uint32_t bitwiseCrc32(const unsigned char* data, size_t length) {
  std::uint32_t crc = 0xFFFFFFFFU;
  for (size_t i = 0; i < length; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc >> 1) ^ ((crc & 1U) != 0 ? 0xEDB88320U : 0U);
    }
  }
  return ~crc;
}

using Raw = std::array<unsigned char, 36>;

std::optional<Raw> decodeBody(std::string_view body) {
  if (body.size() != 48) {
    return std::nullopt;
  }
  Raw raw{};
  std::uint32_t bits = 0;
  int held = 0;
  size_t out = 0;
  for (char c : body) {
    const size_t v = kAlphabet.find(c);
    if (v == std::string_view::npos) {
      return std::nullopt;
    }
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    held += 6;
    if (held >= 8) {
      held -= 8;
      raw[out++] = static_cast<unsigned char>(bits >> held);
    }
  }
  return raw;
}

std::string encodeBody(const Raw& raw) {
  std::string out;
  std::uint32_t bits = 0;
  int held = 0;
  for (unsigned char b : raw) {
    bits = (bits << 8) | b;
    held += 8;
    while (held >= 6) {
      held -= 6;
      out += kAlphabet[(bits >> held) & 63U];
    }
  }
  return out;
}

std::uint32_t storedSum(const Raw& raw) {
  return (static_cast<std::uint32_t>(raw[32]) << 24) | (static_cast<std::uint32_t>(raw[33]) << 16) |
         (static_cast<std::uint32_t>(raw[34]) << 8) | raw[35];
}

bool referenceAccepts(std::string_view key, std::string_view prefix) {
  if (key.substr(0, prefix.size()) != prefix || key.size() < prefix.size()) {
    return false;
  }
  const auto raw = decodeBody(key.substr(prefix.size()));
  return raw && storedSum(*raw) == bitwiseCrc32(raw->data(), 32);
}

void checkAccepted(std::string_view key, std::string_view prefix) {
  FUZZ_CHECK(key.size() == prefix.size() + api::kKeyBodyLength);
  FUZZ_CHECK(key.substr(0, prefix.size()) == prefix);
  const std::string_view body = key.substr(prefix.size());
  FUZZ_CHECK(body.find_first_not_of(kAlphabet) == std::string_view::npos);
  const auto raw = decodeBody(body);
  FUZZ_CHECK(raw.has_value());
  FUZZ_CHECK(encodeBody(*raw) == body);
  FUZZ_CHECK(storedSum(*raw) == api::crc32(raw->data(), 32));
  FUZZ_CHECK(api::displayPrefix(key) == key.substr(0, api::kKeyDisplayPrefixLength));
}

// Any bytes as unpadded base64url.
std::string encodeBytes(const unsigned char* data, size_t length) {
  std::string out;
  std::uint32_t bits = 0;
  int held = 0;
  for (size_t i = 0; i < length; ++i) {
    bits = (bits << 8) | data[i];
    held += 8;
    while (held >= 6) {
      held -= 6;
      out += kAlphabet[(bits >> held) & 63U];
    }
  }
  if (held > 0) {
    out += kAlphabet[(bits << (6 - held)) & 63U];
  }
  return out;
}

// The original system's keys: prefix + the canonical base64url of exactly 32 bytes.
bool referenceLegacy(std::string_view key, std::string_view prefix) {
  if (key.size() < prefix.size() || key.substr(0, prefix.size()) != prefix) {
    return false;
  }
  const std::string_view body = key.substr(prefix.size());
  if (body.size() != 43 || body.find_first_not_of(kAlphabet) != std::string_view::npos) {
    return false;
  }
  std::array<unsigned char, 33> bytes{};
  std::uint32_t bits = 0;
  int held = 0;
  size_t out = 0;
  for (char c : body) {
    bits = (bits << 6) | static_cast<std::uint32_t>(kAlphabet.find(c));
    held += 6;
    if (held >= 8) {
      held -= 8;
      bytes[out++] = static_cast<unsigned char>(bits >> held);
    }
  }
  return out == 32 && encodeBytes(bytes.data(), 32) == body;  // canonical: re-encodes the same
}

void checkHash(std::string_view key) {
  const auto hex = api::hashKeyHex(key);
  for (char c : hex) {
    FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  }
  FUZZ_CHECK(api::hashKeyHex(key) == hex);
  FUZZ_CHECK(api::hashKey(key) == std::string(hex.data(), hex.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  fuzz::Reader in(fuzz::asText(data, size));
  const std::uint8_t mode = in.byte();
  const size_t prefix_length = in.byte() % 17;
  const std::string prefix(in.rest().substr(0, prefix_length));
  const std::string_view rest = in.rest().substr(prefix.size());

  if ((mode & 1U) == 0) {
    const bool accepted = api::isWellFormedKey(rest, prefix);
    FUZZ_CHECK(accepted == referenceAccepts(rest, prefix));
    const bool legacy = api::isLegacyKey(rest, prefix);
    FUZZ_CHECK(legacy == referenceLegacy(rest, prefix));
    FUZZ_CHECK(!(legacy && accepted));  // 43 characters against 48: never both
    if (accepted) {
      checkAccepted(rest, prefix);
    }
    checkHash(rest);
    return 0;
  }

  Raw raw{};
  for (size_t i = 0; i < 32 && i < rest.size(); ++i) {
    raw[i] = static_cast<unsigned char>(rest[i]);
  }
  const std::uint32_t sum = bitwiseCrc32(raw.data(), 32);
  FUZZ_CHECK(api::crc32(raw.data(), 32) == sum);
  FUZZ_CHECK(api::crc32(reinterpret_cast<const unsigned char*>(rest.data()), rest.size()) ==
             bitwiseCrc32(reinterpret_cast<const unsigned char*>(rest.data()), rest.size()));
  raw[32] = static_cast<unsigned char>(sum >> 24);
  raw[33] = static_cast<unsigned char>(sum >> 16);
  raw[34] = static_cast<unsigned char>(sum >> 8);
  raw[35] = static_cast<unsigned char>(sum);
  const std::string key = prefix + encodeBody(raw);
  FUZZ_CHECK(api::isWellFormedKey(key, prefix));
  checkAccepted(key, prefix);
  const std::string legacy = prefix + encodeBytes(raw.data(), 32);  // as the original issued
  FUZZ_CHECK(api::isLegacyKey(legacy, prefix) && !api::isWellFormedKey(legacy, prefix));

  std::string changed = key;
  const size_t at = prefix.size() + (rest.empty() ? 0 : static_cast<unsigned char>(rest[0])) % 48;
  const size_t old_value = kAlphabet.find(changed[at]);
  changed[at] = kAlphabet[(old_value + 1 + mode / 2 % 63) % 64];
  FUZZ_CHECK(!api::isWellFormedKey(changed, prefix));
  return 0;
}
