// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, whose every digest
// allocates a context (and, one-shot, looks the algorithm up). Validation hashes a key on
// every request, and the request path allocates nothing: the low-level functions hash on the
// stack, with the same assembly (SHA-NI where the CPU has it).
#define OPENSSL_SUPPRESS_DEPRECATED
#include "keys/key_codec.hpp"

#include <openssl/sha.h>

#include <stdexcept>

#include "util/secret.hpp"

namespace api {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::int8_t, 256> makeDecodeTable() {
  std::array<std::int8_t, 256> table{};
  for (auto& v : table) {
    v = -1;
  }
  for (int i = 0; i < 64; ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  }
  return table;
}
constexpr auto kDecode = makeDecodeTable();

constexpr std::array<std::uint32_t, 256> makeCrcTable() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) {
      c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1) : c >> 1;
    }
    table[i] = c;
  }
  return table;
}
constexpr auto kCrcTable = makeCrcTable();

constexpr char kHex[] = "0123456789abcdef";

}  // namespace

std::uint32_t crc32(const unsigned char* data, size_t length) {
  std::uint32_t c = 0xFFFFFFFFU;
  for (size_t i = 0; i < length; ++i) {
    c = kCrcTable[(c ^ data[i]) & 0xFFU] ^ (c >> 8);
  }
  return c ^ 0xFFFFFFFFU;
}

std::string generateKey(std::string_view prefix, RandomSource& random) {
  std::array<unsigned char, kKeyRandomBytes + kKeyChecksumBytes> raw{};
  random.fill(raw.data(), kKeyRandomBytes);
  const std::uint32_t sum = crc32(raw.data(), kKeyRandomBytes);
  raw[32] = static_cast<unsigned char>(sum >> 24);
  raw[33] = static_cast<unsigned char>(sum >> 16);
  raw[34] = static_cast<unsigned char>(sum >> 8);
  raw[35] = static_cast<unsigned char>(sum);
  std::string key(prefix);
  key.reserve(prefix.size() + kKeyBodyLength);
  for (size_t i = 0; i < raw.size(); i += 3) {
    const std::uint32_t group = (static_cast<std::uint32_t>(raw[i]) << 16) |
                                (static_cast<std::uint32_t>(raw[i + 1]) << 8) | raw[i + 2];
    key += kAlphabet[(group >> 18) & 63U];
    key += kAlphabet[(group >> 12) & 63U];
    key += kAlphabet[(group >> 6) & 63U];
    key += kAlphabet[group & 63U];
  }
  wipeBytes(raw.data(), raw.size());
  return key;
}

bool isWellFormedKey(std::string_view key, std::string_view prefix) noexcept {
  if (key.size() != prefix.size() + kKeyBodyLength || key.substr(0, prefix.size()) != prefix) {
    return false;
  }
  const std::string_view body = key.substr(prefix.size());
  std::array<unsigned char, kKeyRandomBytes + kKeyChecksumBytes> raw{};
  for (size_t i = 0, o = 0; i < body.size(); i += 4, o += 3) {
    std::uint32_t group = 0;
    for (size_t j = 0; j < 4; ++j) {
      const std::int8_t v = kDecode[static_cast<unsigned char>(body[i + j])];
      if (v < 0) {
        return false;
      }
      group = (group << 6) | static_cast<std::uint32_t>(v);
    }
    raw[o] = static_cast<unsigned char>(group >> 16);
    raw[o + 1] = static_cast<unsigned char>(group >> 8);
    raw[o + 2] = static_cast<unsigned char>(group);
  }
  const std::uint32_t stored = (static_cast<std::uint32_t>(raw[32]) << 24) |
                               (static_cast<std::uint32_t>(raw[33]) << 16) |
                               (static_cast<std::uint32_t>(raw[34]) << 8) | raw[35];
  return stored == crc32(raw.data(), kKeyRandomBytes);
}

bool isLegacyKey(std::string_view key, std::string_view prefix) noexcept {
  if (key.size() != prefix.size() + kLegacyKeyBodyLength ||
      key.substr(0, prefix.size()) != prefix) {
    return false;
  }
  const std::string_view body = key.substr(prefix.size());
  for (const char c : body) {
    if (kDecode[static_cast<unsigned char>(c)] < 0) {
      return false;
    }
  }
  // 43 characters carry 258 bits: the last one's two low bits are padding, zero when the key
  // is the canonical encoding of 32 bytes (as Node's base64url encoder writes it).
  return (kDecode[static_cast<unsigned char>(body.back())] & 0x3) == 0;
}

std::array<char, 64> hashKeyHex(std::string_view key) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256_CTX context;  // on the stack: no allocation (see the top of the file)
  if (SHA256_Init(&context) != 1 || SHA256_Update(&context, key.data(), key.size()) != 1 ||
      SHA256_Final(digest, &context) != 1) {
    throw std::runtime_error("SHA-256 failed in OpenSSL");
  }
  wipeBytes(&context, sizeof(context));  // it held the key
  std::array<char, 64> hex{};
  for (size_t i = 0; i < SHA256_DIGEST_LENGTH; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 15U];
  }
  return hex;
}

std::string hashKey(std::string_view key) {
  const auto hex = hashKeyHex(key);
  return std::string(hex.data(), hex.size());
}

std::string randomHex(size_t bytes, RandomSource& random) {
  std::string raw(bytes, '\0');
  random.fill(reinterpret_cast<unsigned char*>(raw.data()), bytes);
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15U];
  }
  return out;
}

}  // namespace api
