// How every backend stores a key's scopes: a JSON array of strings in a text column, as the
// original system wrote them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace api {

std::string scopesToJson(const std::vector<std::string>& scopes);
// Reads what scopesToJson wrote without a JSON parser (validation's hot path), and anything
// else (older rows) with one; what is not an array of strings reads as no scopes.
std::vector<std::string> scopesFromJson(std::string_view text);

}  // namespace api
