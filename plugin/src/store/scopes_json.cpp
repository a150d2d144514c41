// scopesToJson and scopesFromJson.
#include "store/scopes_json.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace api {

std::string scopesToJson(const std::vector<std::string>& scopes) {
  std::string out = "[";
  for (const std::string& scope : scopes) {
    out += out.size() > 1 ? ",\"" : "\"";
    for (char c : scope) {
      if (c == '"' || c == '\\') {
        out += '\\';
      }
      out += c;
    }
    out += '"';
  }
  return out + "]";
}

std::vector<std::string> scopesFromJson(std::string_view text) {
  std::vector<std::string> scopes;
  if (text.empty()) {
    return scopes;
  }
  if (text.find('\\') == std::string_view::npos && text.front() == '[' && text.back() == ']') {
    size_t at = 1;
    bool ok = true;
    while (ok) {
      while (at < text.size() && (text[at] == ' ' || text[at] == ',')) {
        ++at;
      }
      if (at >= text.size() - 1) {
        break;
      }
      const size_t close = text.find('"', at + 1);
      ok = text[at] == '"' && close != std::string_view::npos && close < text.size() - 1;
      if (ok) {
        scopes.emplace_back(text.substr(at + 1, close - at - 1));
        at = close + 1;
      }
    }
    if (ok) {
      return scopes;
    }
    scopes.clear();
  }
  boost::json::error_code ec;
  const boost::json::value value = boost::json::parse(text, ec);
  if (!ec && value.is_array()) {
    for (const auto& item : value.as_array()) {
      if (item.is_string()) {
        scopes.emplace_back(item.as_string());
      }
    }
  }
  return scopes;
}

}  // namespace api
