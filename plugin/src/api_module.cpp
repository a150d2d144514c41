#include "api_module.hpp"

#include <array>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "cli/commands.hpp"
#include "exports/service_tables.hpp"
#include "store/shared/shared_window_store.hpp"
#include "systemprompt/module.hpp"
#include "util/time_text.hpp"

namespace api {
namespace {

ApiModule& self(void* ctx) {
  return *static_cast<ApiModule*>(ctx);
}

// The one C entry point of every command: the host passes the command's own ctx (ABI 1.1).
int runCommandEntryPoint(void* ctx, const char* args_json, const sp_command_io* io,
                         sp_error* error) {
  if (ctx == nullptr) {
    systemprompt::setError(error, "command called without its sp_module_command.ctx");
    return SP_EXIT_FAILURE;
  }
  if (io == nullptr || io->size < SP_COMMAND_IO_SIZE_1_0) {
    systemprompt::setError(error, io == nullptr
                                      ? "command called without an sp_command_io"
                                      : "command called with an sp_command_io whose size is "
                                        "below its ABI 1.0 layout");
    return SP_EXIT_FAILURE;
  }
  // Bytes copied, not read through a CommandContext: `ctx` may point to another object.
  std::uint64_t magic = 0;
  std::memcpy(&magic, ctx, sizeof(magic));
  if (magic != CommandContext::kMagic) {
    systemprompt::setError(error,
                           "command called with a ctx that is not its sp_module_command.ctx: "
                           "the api module needs a host that passes it (module ABI 1.1)");
    return SP_EXIT_FAILURE;
  }
  return ApiModule::runCommand(*static_cast<const CommandContext*>(ctx),
                               args_json == nullptr ? "{}" : args_json, *io, error);
}

// A 1.0 host passes module_ctx to every command, which cannot tell one command from another:
// such a host gets this clear refusal instead.
int refuseCommandOfOldHost(void* /*ctx*/, const char* /*args_json*/, const sp_command_io* /*io*/,
                           sp_error* error) {
  systemprompt::setError(error,
                         "the api module's commands need a host of module ABI 1.1 or later "
                         "(one that passes sp_module_command.ctx); upgrade the host");
  return SP_EXIT_FAILURE;
}

AdapterSettings adapterSettings(const ApiSettings& settings) {
  AdapterSettings out;
  out.rate_limit_window_ms = settings.rate_limits.window_ms;
  out.rate_limit_sub_windows = settings.rate_limits.sub_windows;
  out.key_prefix = settings.keys.prefix;
  out.aggregation_interval_ms = settings.usage.aggregation_interval_ms;
  out.rollup_retention_ms = settings.usage.rollup_retention_ms;
  return out;
}

sp_status healthEntry(void* ctx, sp_health* out, sp_error* error) {
  return systemprompt::guard(error, [&] {
    if (out == nullptr || out->size < SP_HEALTH_SIZE_1_0) {
      throw systemprompt::Failure(SP_ERROR_INVALID, "health: sp_health missing or too small");
    }
    self(ctx).health(*out);
  });
}

sp_status cleanupEntry(void* ctx, sp_error* error) {
  return systemprompt::guard(error, [&] { self(ctx).cleanup(); });
}

sp_status serveStartEntry(void* ctx, sp_error* error) {
  return systemprompt::guard(error, [&] {
    try {
      self(ctx).serveStart();
    } catch (const std::runtime_error& e) {  // e.g. the address is taken
      throw systemprompt::Failure(SP_ERROR_UNAVAILABLE, e.what());
    }
  });
}

sp_status serveStopEntry(void* ctx, std::uint64_t deadline_ms, sp_error* error) {
  return systemprompt::guard(error, [&] {
    self(ctx).serveStop(std::chrono::milliseconds(
        static_cast<std::int64_t>(std::min<std::uint64_t>(deadline_ms, 3'600'000))));
  });
}

// `connection` names the connection in trace records: each has its own job. Only "main"
// decides rate limits.
std::unique_ptr<Stores> openStore(const ApiSettings& settings, const HostLogger& logger,
                                  std::string_view connection) {
  StoreOpening opening;
  opening.shape = settings.rate_limits.windowShape();
  opening.rate_limits = connection == "main";
  if (logger.traceEnabled()) {
    opening.trace = [&logger, connection](std::string_view sql, std::int64_t took_ns) {
      logger.trace("sql statement run", {{"connection", std::string(connection)},
                                         {"took_us", std::to_string(took_ns / 1000)},
                                         {"sql", std::string(sql)}});
    };
  }
  opening.warn = [&logger](const std::string& what) { logger.warn(what); };
  return openStores(settings.store, opening);
}

constexpr std::string_view kCounterFailedOpen = "rate_limit_failed_open";

}  // namespace

ApiModule::ApiModule(const sp_host_api& host, std::unique_ptr<Clock> clock)
    : ApiModule(host,
                parseSettings(host.config_json == nullptr ? "{}" : host.config_json,
                              host.state_dir == nullptr ? "." : host.state_dir),
                std::move(clock), nullptr) {}

ApiModule::ApiModule(const sp_host_api& host, ApiSettings settings, std::unique_ptr<Clock> clock,
                     std::unique_ptr<Stores> store)
    : logger_(host),
      settings_(std::move(settings)),
      clock_(std::move(clock)),
      owns_store_(store == nullptr),
      store_(owns_store_ ? openStore(settings_, logger_, "main") : std::move(store)),
      lookup_store_(owns_store_ ? openStore(settings_, logger_, "lookups") : nullptr),
      keys_(settings_, store_->keys(),
            lookup_store_ != nullptr ? lookup_store_->keys() : store_->keys(), store_->windows(),
            *clock_, logger_),
      limits_(settings_, *store_, *clock_, logger_, keys_),
      usage_(settings_, store_->usage(), store_->keys(), *clock_),
      recorder_(settings_, *store_, *clock_, logger_,
                owns_store_
                    ? StoreFactory([this] { return openStore(settings_, logger_, "usage"); })
                    : StoreFactory()),
      services_{keys_,
                limits_,
                usage_,
                recorder_,
                *clock_,
                adapterSettings(settings_),
                [this](sp_health& out) { health(out); },
                [this]() -> std::optional<SlotUse> {
                  const auto* shared = dynamic_cast<const SharedWindowStore*>(&store_->windows());
                  if (shared == nullptr) {
                    return std::nullopt;
                  }
                  const SharedWindowStore::Stats s = shared->stats();
                  return SlotUse{s.in_use, s.slots};
                }} {
  const auto table = commandTable();
  const bool host_passes_ctx = host.abi_minor >= 1;
  command_contexts_.reserve(table.size());  // never reallocated: commands_ points into it
  for (const CommandEntry& entry : table) {
    CommandContext context;
    context.entry = &entry;
    context.services = &services_;
    command_contexts_.push_back(context);
  }
  for (CommandContext& context : command_contexts_) {
    commands_.push_back(sp_module_command{
        context.entry->name.data(),
        host_passes_ctx ? &runCommandEntryPoint : &refuseCommandOfOldHost, &context});
  }

  key_service_ = makeKeyServiceTable(services_);
  rate_limit_service_ = makeRateLimitServiceTable(services_);

  exported_[0] = sp_module_service{SP_API_KEY_SERVICE_NAME, SP_API_KEY_SERVICE_VERSION_MAJOR,
                                   SP_API_KEY_SERVICE_VERSION_MINOR, &key_service_};
  exported_[1] = sp_module_service{SP_RATE_LIMIT_SERVICE_NAME, SP_RATE_LIMIT_SERVICE_VERSION_MAJOR,
                                   SP_RATE_LIMIT_SERVICE_VERSION_MINOR, &rate_limit_service_};
  logger_.debug("api module ready", {{"database", settings_.store.database_path}});
}

ApiModule::~ApiModule() {
  serveStop(std::chrono::milliseconds(1'000));  // a host that never called serve_stop
  persistFailOpenCount();
  // Counts kept only in memory (the shared rate-limit segment) reach the database.
  try {
    store_->windows().sync();
  } catch (const std::exception& e) {
    try {
      logger_.warn("could not write rate-limit counts back to the database", {{"error", e.what()}});
    } catch (...) {
    }
  } catch (...) {
  }
}

void ApiModule::persistFailOpenCount() noexcept {
  try {
    const std::uint64_t total = limits_.failOpenCount();
    if (total != fail_open_persisted_) {
      store_->counters().add({{std::string(kCounterFailedOpen),
                               static_cast<std::int64_t>(total - fail_open_persisted_)}},
                             clock_->now());
      fail_open_persisted_ = total;
    }
  } catch (const std::exception& e) {
    try {
      logger_.warn("could not record the fail-open count", {{"error", e.what()}});
    } catch (...) {
    }
  } catch (...) {
  }
}

void ApiModule::describe(sp_module& out) {
  out.module_ctx = this;
  out.commands = commands_.data();
  out.command_count = commands_.size();
  out.command_size = sizeof(sp_module_command);
  out.services = exported_.data();
  out.service_count = exported_.size();
  out.service_size = sizeof(sp_module_service);
  out.health = &healthEntry;
  out.cleanup = &cleanupEntry;
  if (out.size >= SP_MODULE_SIZE_1_1) {
    out.cleanup_interval_ms = static_cast<std::uint64_t>(settings_.cleanup.interval_ms);
  }
  if (!settings_.http.listen.empty()) {
    if (out.size >= SP_MODULE_SIZE_1_3) {
      out.serve_start = &serveStartEntry;
      out.serve_stop = &serveStopEntry;
    } else {
      logger_.warn(
          "httpListen is set, but this host is older than ABI 1.3 and cannot start "
          "the HTTP edge: nothing will listen",
          {{"httpListen", settings_.http.listen}});
    }
  }
}

void ApiModule::serveStart() {
  if (!settings_.http.listen.empty() && edge_ == nullptr) {
    HttpSettings http = settings_.http;
    http.decision_workers = decisionWorkers(settings_.store);
    edge_ = std::make_unique<HttpEdge>(http, services_, logger_);
  }
}

void ApiModule::serveStop(std::chrono::milliseconds deadline) {
  if (edge_ != nullptr) {
    edge_->stop(deadline);
    edge_.reset();
  }
}

int ApiModule::runCommand(const CommandContext& command, std::string_view args_json,
                          const sp_command_io& io, sp_error* error) noexcept {
  int exit_code = SP_EXIT_FAILURE;
  const sp_status status = systemprompt::guard(error, [&] {
    exit_code = runCommandEntry(*command.entry, *command.services, args_json, Terminal(io));
  });
  return status == SP_OK ? exit_code : SP_EXIT_FAILURE;
}

void ApiModule::health(sp_health& out) noexcept {
  try {
    const StoreHealth store = store_->health();
    out.healthy = store.healthy ? 1 : 0;
    std::string detail = store.location + ", schema version " +
                         std::to_string(store.schema_version) + " of " +
                         std::to_string(store.latest_schema_version);
    if (!store.healthy) {
      detail += ": " + store.problem;
    }
    if (!store.notes.empty()) {
      detail += "; " + store.notes;
    }
    // Totals of every process that used the store (a serving host's, above all), plus what
    // this process counted and has not written there yet (all of it, when the store fails).
    struct Total {
      std::string_view name;
      const char* what;
      std::int64_t value = 0;
      std::int64_t updated_at_ms = 0;
    };
    std::array<Total, 3> totals{{
        {kCounterFailedOpen, "rate-limit decisions failed open"},
        {kCounterRecordsDropped, "request records dropped (queue full)"},
        {kCounterRecordsLost, "request records lost to write errors"},
    }};
    if (store.healthy) {
      try {
        for (const CounterStore::Counter& c : store_->counters().all()) {
          for (Total& t : totals) {
            if (c.name == t.name) {
              t.value = c.value;
              t.updated_at_ms = c.updated_at_ms;
            }
          }
        }
      } catch (const std::exception&) {  // the store's own line above says what is wrong
      }
    }
    totals[0].value += static_cast<std::int64_t>(limits_.failOpenCount() - fail_open_persisted_);
    totals[1].value += static_cast<std::int64_t>(recorder_.unpersistedDropped());
    totals[2].value += static_cast<std::int64_t>(recorder_.unpersistedLost());
    for (const Total& t : totals) {
      if (t.value == 0) {
        continue;
      }
      detail += "; " + std::to_string(t.value) + " " + t.what;
      if (t.updated_at_ms != 0) {
        detail += " (last stored " +
                  formatIsoUtc(TimePoint(std::chrono::milliseconds(t.updated_at_ms))) + ")";
      }
    }
    systemprompt::copyTruncated(out.detail, sizeof(out.detail), detail);
  } catch (...) {
    out.healthy = 0;
    systemprompt::copyTruncated(out.detail, sizeof(out.detail), "health check failed");
  }
}

std::int64_t ApiModule::cleanup() {
  persistFailOpenCount();
  const TimePoint now = clock_->now();
  const TimePoint cutoff = now - std::chrono::milliseconds(settings_.rate_limits.window_ms);
  const std::int64_t sub_ms = settings_.rate_limits.windowShape().subWindowMs();
  std::int64_t deleted = store_->windows().deleteEnded(cutoff, sub_ms);
  // Windows of keys revoked since: those revoked earlier ended by the cutoff, and went above.
  for (const std::string& id :
       store_->keys().revokedBetween(cutoff - std::chrono::milliseconds(sub_ms), now)) {
    deleted += store_->windows().forget(id);
  }
  const std::int64_t now_ms = now.time_since_epoch().count();
  const auto [raw, rollups] = store_->usage().deleteBefore(
      now_ms - settings_.usage.request_retention_ms, now_ms - settings_.usage.rollup_retention_ms);
  logger_.debug("cleanup done", {{"rate_limit_windows_deleted", std::to_string(deleted)},
                                 {"requests_deleted", std::to_string(raw)},
                                 {"rollups_deleted", std::to_string(rollups)}});
  return deleted;
}

}  // namespace api
