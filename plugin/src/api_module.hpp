// ApiModule owns all state of one loaded api module: settings, clock, store, services and the
// C tables handed to the host. module_init creates it; shutdown destroys it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "config/settings.hpp"
#include "domain/clock.hpp"
#include "http/http_edge.hpp"
#include "log/host_logger.hpp"
#include "services/api_key_service.hpp"
#include "services/rate_limit_service.hpp"
#include "services/services.hpp"
#include "store/stores.hpp"
#include "systemprompt/api_services.h"
#include "systemprompt/module_abi.h"
#include "usage/usage_recorder.hpp"
#include "usage/usage_service.hpp"

namespace api {

struct CommandEntry;

// What each command's sp_module_command.ctx points to (ABI 1.1): the one command function
// finds its command and the services it may use here. OWNERSHIP: ApiModule.
struct CommandContext {
  // Tells a command's ctx from anything else a host might pass (a host that passes
  // module_ctx, an ApiModule, is refused with a clear error rather than misread).
  static constexpr std::uint64_t kMagic = 0x6170692d636d6421;  // "api-cmd!"
  std::uint64_t magic = kMagic;
  const CommandEntry* entry = nullptr;
  const Services* services = nullptr;
};

class ApiModule {
 public:
  // Parses the config and opens (and migrates) the store. Throws std::invalid_argument for
  // bad config, StoreError when the store cannot be opened.
  // REQUIRED: `host` outlives this object.
  ApiModule(const sp_host_api& host, std::unique_ptr<Clock> clock);

  // For tests and tools that bring their own store.
  ApiModule(const sp_host_api& host, ApiSettings settings, std::unique_ptr<Clock> clock,
            std::unique_ptr<Stores> store);

  // Records this process's fail-open decisions in the store's counters.
  ~ApiModule();

  ApiModule(const ApiModule&) = delete;
  ApiModule& operator=(const ApiModule&) = delete;

  // Fills the host-facing tables (commands, services, entry points) into `out`.
  void describe(sp_module& out);

  // Runs one command with the services. Never throws: a failure is exit 1 with `error` set.
  static int runCommand(const CommandContext& command, std::string_view args_json,
                        const sp_command_io& io, sp_error* error) noexcept;

  // What the adapters (CLI handlers, C tables) are given; built once, lives as long as this.
  const Services& services() const { return services_; }

  // Store reachability and migration state, for `prompt health` and the services.
  void health(sp_health& out) noexcept;

  // Deletes rate-limit windows that can no longer count toward any decision, raw request
  // rows past requestRetention and rollups past rollupRetention. Idempotent. Returns how
  // many window rows went.
  std::int64_t cleanup();

  // `prompt serve` started or stops serving (ABI 1.3): the HTTP edge, when httpListen is
  // set, listens between the two. serveStart throws std::runtime_error when it cannot.
  void serveStart();
  void serveStop(std::chrono::milliseconds deadline);
  // The edge's port while it listens (0 otherwise), for tests.
  std::uint16_t httpPort() const { return edge_ != nullptr ? edge_->port() : 0; }

  const ApiSettings& settings() const { return settings_; }
  const HostLogger& logger() const { return logger_; }
  const Clock& clock() const { return *clock_; }
  Stores& store() { return *store_; }
  ApiKeyService& keys() { return keys_; }
  RateLimitService& limits() { return limits_; }
  UsageRecorder& recorder() { return recorder_; }
  UsageService& usage() { return usage_; }

 private:
  HostLogger logger_;
  ApiSettings settings_;
  std::unique_ptr<Clock> clock_;
  bool owns_store_;  // opened from settings (so the recorder can open its own connections)
  std::unique_ptr<Stores> store_;
  // Validation's own connection (the store itself when a test brings its own store).
  std::unique_ptr<Stores> lookup_store_;
  ApiKeyService keys_;
  RateLimitService limits_;
  UsageService usage_;
  // Declared after the store: destroyed first, so its last records reach the store.
  UsageRecorder recorder_;

  Services services_;               // after everything it refers to
  std::unique_ptr<HttpEdge> edge_;  // while serving; after the services it calls
  std::vector<CommandContext> command_contexts_;
  std::vector<sp_module_command> commands_;  // ctx: &command_contexts_[i]
  sp_api_key_service key_service_{};
  sp_rate_limit_service rate_limit_service_{};
  std::array<sp_module_service, 2> exported_{};
  std::atomic<std::uint64_t> fail_open_persisted_{0};  // written by cleanup and shutdown

  void persistFailOpenCount() noexcept;
};

}  // namespace api
