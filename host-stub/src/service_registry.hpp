// Services exported by loaded modules, registered under (module, name, version). Sibling
// modules find them through sp_host_api.get_service. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <shared_mutex>
#include <string>
#include <utility>

namespace host {

class ServiceRegistry {
 public:
  // Throws std::invalid_argument when (module, name) is already registered.
  void add(const std::string& module, const std::string& name, std::uint32_t major,
           std::uint32_t minor, const void* table);

  // Removes every service of `module` (before it shuts down).
  void removeModule(const std::string& module);

  // The table of `module`/`name` when its major equals `major` and its minor is at least
  // `min_minor`; nullptr otherwise. `*served_minor` gets the registered minor when found.
  const void* find(const std::string& module, const std::string& name, std::uint32_t major,
                   std::uint32_t min_minor, std::uint32_t* served_minor) const;

 private:
  struct Entry {
    std::uint32_t major;
    std::uint32_t minor;
    const void* table;
  };
  mutable std::shared_mutex mutex_;
  std::map<std::pair<std::string, std::string>, Entry> entries_;
};

}  // namespace host
