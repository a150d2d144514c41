#include "log/host_logger.hpp"

#include <vector>

namespace api {

void HostLogger::log(sp_log_level level, std::string_view message,
                     std::initializer_list<Field> fields) const {
  if (host_.log == nullptr || !enabled(level)) {
    return;
  }
  const std::string text(message);
  std::vector<std::string> keys;
  keys.reserve(fields.size());
  std::vector<sp_log_field> c_fields;
  c_fields.reserve(fields.size());
  for (const auto& [key, value] : fields) {
    keys.emplace_back(key);
    c_fields.push_back(sp_log_field{keys.back().c_str(), value.c_str()});
  }
  host_.log(host_.host_ctx, level, text.c_str(), c_fields.data(), c_fields.size());
}

}  // namespace api
