// Services exported by loaded modules, registered under (module, name, major version), so
// one module can serve two majors of a service side by side while its callers move from
// one to the other. Sibling modules find them through sp_host_api.get_service. In memory
// only; nothing here depends on a module's store. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <shared_mutex>
#include <string>
#include <tuple>

namespace host {

class ServiceRegistry {
 public:
  // Throws std::invalid_argument when (module, name, major) is already registered.
  void add(const std::string& module, const std::string& name, std::uint32_t major,
           std::uint32_t minor, const void* table);

  // Removes every service of `module` (before it shuts down).
  void removeModule(const std::string& module);

  // The table of `module`/`name` when its major equals `major` and its minor is at least
  // `min_minor`; nullptr otherwise. `*served_minor` gets the registered minor when found.
  const void* find(const std::string& module, const std::string& name, std::uint32_t major,
                   std::uint32_t min_minor, std::uint32_t* served_minor) const;

 private:
  using Key = std::tuple<std::string, std::string, std::uint32_t>;  // module, name, major
  struct Entry {
    std::uint32_t minor;
    const void* table;
  };
  mutable std::shared_mutex mutex_;
  std::map<Key, Entry> entries_;
};

}  // namespace host
