// The API key format: <prefix><base64url(32 random bytes ++ CRC-32 of them, big-endian)>,
// unpadded, so 48 characters after the prefix. The checksum lets a mistyped or forged key be
// rejected by its format alone, before any hashing or lookup.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "domain/random.hpp"

namespace api {

inline constexpr size_t kKeyRandomBytes = 32;
inline constexpr size_t kKeyChecksumBytes = 4;
inline constexpr size_t kKeyBodyLength = 48;  // base64url of 36 bytes, no padding
inline constexpr size_t kKeyDisplayPrefixLength = 8;

// CRC-32 (IEEE 802.3, as zlib computes it).
std::uint32_t crc32(const unsigned char* data, size_t length);

// A new key from `random` (OpenSSL's CSPRNG by default). Throws std::runtime_error when the
// source fails: never a weak key.
std::string generateKey(std::string_view prefix, RandomSource& random = systemRandom());

// True when `key` is `prefix` followed by 48 base64url characters whose last 4 decoded
// bytes are the CRC-32 of the first 32. Allocation-free.
bool isWellFormedKey(std::string_view key, std::string_view prefix) noexcept;

// The original system's keys: `prefix` followed by the unpadded base64url encoding of 32
// random bytes, 43 characters, with no checksum (its SHA-256 hex is stored, as for ours).
inline constexpr size_t kLegacyKeyBodyLength = 43;
// True when `key` is `prefix` followed by 43 base64url characters that encode 32 bytes
// canonically. Without a checksum, any such text is a candidate: it costs a lookup to refuse.
// Allocation-free.
bool isLegacyKey(std::string_view key, std::string_view prefix) noexcept;

// SHA-256 of the whole key string, as 64 lowercase hex characters (the stored key_hash).
std::array<char, 64> hashKeyHex(std::string_view key);
std::string hashKey(std::string_view key);

// What is stored and shown to identify a key: its first 8 characters.
inline std::string displayPrefix(std::string_view key) {
  return std::string(key.substr(0, kKeyDisplayPrefixLength));
}

// Random bytes as lowercase hex, from `random` (for ids). Throws like generateKey.
std::string randomHex(size_t bytes, RandomSource& random = systemRandom());

}  // namespace api
