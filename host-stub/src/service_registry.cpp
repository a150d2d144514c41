#include "service_registry.hpp"

#include <mutex>
#include <stdexcept>

namespace host {

void ServiceRegistry::add(const std::string& module, const std::string& name, std::uint32_t major,
                          std::uint32_t minor, const void* table) {
  std::unique_lock lock(mutex_);
  if (!entries_.emplace(Key{module, name, major}, Entry{minor, table}).second) {
    throw std::invalid_argument("service " + module + "/" + name + " v" + std::to_string(major) +
                                " is registered twice");
  }
}

void ServiceRegistry::removeModule(const std::string& module) {
  std::unique_lock lock(mutex_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = std::get<0>(it->first) == module ? entries_.erase(it) : std::next(it);
  }
}

const void* ServiceRegistry::find(const std::string& module, const std::string& name,
                                  std::uint32_t major, std::uint32_t min_minor,
                                  std::uint32_t* served_minor) const {
  std::shared_lock lock(mutex_);
  const auto it = entries_.find(Key{module, name, major});
  if (it == entries_.end() || it->second.minor < min_minor) {
    return nullptr;
  }
  if (served_minor != nullptr) {
    *served_minor = it->second.minor;
  }
  return it->second.table;
}

}  // namespace host
