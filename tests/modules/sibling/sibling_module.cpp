// A sibling module, built only for tests, that uses nothing but the installed public headers
// (systemprompt/*.h, *.hpp) to reach the api module's services through the host.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "systemprompt/api_clients.hpp"
#include "systemprompt/module.hpp"

namespace {

struct Sibling {
  const sp_host_api* host;
};

Sibling& self(void* ctx) {
  return *static_cast<Sibling*>(ctx);
}

void print(const sp_command_io* io, const std::string& text) {
  systemprompt::CommandIo(*io).out(text);
}

std::string stringArg(const char* args_json, const std::string& name) {
  // The host passes {"name":"value",...}; this module avoids a JSON dependency on purpose.
  const std::string json(args_json);
  const std::string needle = "\"" + name + "\":\"";
  const auto at = json.find(needle);
  if (at == std::string::npos) {
    return {};
  }
  const auto start = at + needle.size();
  return json.substr(start, json.find('"', start) - start);
}

int apiHealth(void* ctx, const char* /*args*/, const sp_command_io* io, sp_error* error) {
  int code = SP_EXIT_FAILURE;
  const sp_status status = systemprompt::guard(error, [&] {
    const auto keys = systemprompt::ApiKeyServiceClient::lookup(*self(ctx).host);
    const auto limits = systemprompt::RateLimitServiceClient::lookup(*self(ctx).host);
    const systemprompt::Health k = keys.health();
    const systemprompt::Health r = limits.health();
    print(io, std::string("ApiKeyService: ") + (k.healthy ? "healthy" : "unhealthy") + " (" +
                  k.detail + ")\n");
    print(io, std::string("RateLimitService: ") + (r.healthy ? "healthy" : "unhealthy") + " (" +
                  r.detail + ")\n");
    code = k.healthy && r.healthy ? SP_EXIT_OK : SP_EXIT_FAILURE;
  });
  return status == SP_OK ? code : SP_EXIT_FAILURE;
}

// Looks a service up by module, name and version, as given on the command line.
int lookup(void* ctx, const char* args, const sp_command_io* io, sp_error* error) {
  const std::string module = stringArg(args, "module");
  const std::string service = stringArg(args, "service");
  const auto major =
      static_cast<uint32_t>(std::strtoul(stringArg(args, "major").c_str(), nullptr, 10));
  const auto minor =
      static_cast<uint32_t>(std::strtoul(stringArg(args, "minor").c_str(), nullptr, 10));
  uint32_t served = 0;
  const sp_host_api& host = *self(ctx).host;
  const void* table =
      host.get_service(host.host_ctx, module.c_str(), service.c_str(), major, minor, &served);
  if (table == nullptr) {
    systemprompt::setError(error, module + "/" + service + " v" + std::to_string(major) + "." +
                                      std::to_string(minor) + " is not available");
    return SP_EXIT_FAILURE;
  }
  print(io, "found " + module + "/" + service + " serving minor " + std::to_string(served) + "\n");
  return SP_EXIT_OK;
}

void printErr(const sp_command_io* io, const std::string& text) {
  systemprompt::CommandIo(*io).err(text);
}

const char* reasonName(sp_api_key_reason reason) {
  switch (reason) {
    case SP_API_KEY_VALID:
      return "valid";
    case SP_API_KEY_MALFORMED:
      return "malformed";
    case SP_API_KEY_NOT_FOUND:
      return "not_found";
    case SP_API_KEY_REVOKED:
      return "revoked";
    case SP_API_KEY_EXPIRED:
      return "expired";
    case SP_API_KEY_INTERNAL_ERROR:
      return "internal_error";
  }
  return "?";
}

// Creates a key for <user> through ApiKeyService, validates it, revokes it, validates again.
int keysRoundtrip(void* ctx, const char* args, const sp_command_io* io, sp_error* error) {
  int code = SP_EXIT_FAILURE;
  const sp_status status = systemprompt::guard(error, [&] {
    const auto keys = systemprompt::ApiKeyServiceClient::lookup(*self(ctx).host, 1);
    const std::string user = stringArg(args, "user");
    sp_api_key_create_request request{};
    request.size = sizeof(request);
    request.user_id = user.c_str();
    request.name = "sibling key";
    request.scopes = "read,write";
    request.rate_limit = 42;
    request.actor = "sibling";
    const systemprompt::CreatedApiKey created = keys.create(request);
    print(io, "created " + created.key_id + " prefix " + created.key_prefix + "\n");
    if (keys.servedMinor() >= 3) {
      const std::vector<sp_api_key_info> listed = keys.list(user);
      print(io, "listed " + std::to_string(listed.size()) + " key(s) of " + user +
                    (listed.empty() ? std::string() : ", first " + std::string(listed[0].key_id)) +
                    "\n");
    }
    const auto first = keys.validate(created.secret);
    print(io, std::string("first: ") + reasonName(first.reason) + " id=" + first.key_id +
                  " user=" + first.user_id + " scopes=" + first.scopes +
                  " limit=" + std::to_string(first.rate_limit) + "\n");
    keys.revoke(created.key_id, "done with it", "sibling");
    const auto second = keys.validate(created.secret);
    print(io, std::string("after revoke: ") + reasonName(second.reason) + "\n");
    const sp_api_key_info info = keys.get(created.key_id);
    print(io,
          std::string("get: ") + reasonName(info.status) + " reason=" + info.revoked_reason + "\n");
    try {
      keys.revoke(created.key_id, "again", "sibling");
      print(io, "revoke again: accepted\n");
    } catch (const systemprompt::ServiceError& e) {
      print(io, std::string("revoke again: ") +
                    (e.status() == SP_ERROR_CONFLICT ? "conflict" : "other") + "\n");
    }
    const auto garbage = keys.validate("sk_not-a-key");
    print(io, std::string("garbage: ") + reasonName(garbage.reason) + "\n");
    code = first.valid && !second.valid ? SP_EXIT_OK : SP_EXIT_FAILURE;
  });
  return status == SP_OK ? code : SP_EXIT_FAILURE;
}

// Validates <key> (read from stdin) in a loop: reports "ready" on stderr after the first
// valid answer, and stops once it has answered "revoked" 200 times in a row. Exits 1 if a
// valid answer ever follows a revoked one, or if revocation is not seen within 30 s.
int validateLoop(void* ctx, const char* /*args*/, const sp_command_io* io, sp_error* error) {
  int code = SP_EXIT_FAILURE;
  const sp_status status = systemprompt::guard(error, [&] {
    const auto keys = systemprompt::ApiKeyServiceClient::lookup(*self(ctx).host, 1);
    char line[256];
    const long n = io->read_line(io->io_ctx, line, sizeof(line));
    const std::string key(line, n > 0 ? static_cast<size_t>(n) : 0);
    long valid_answers = 0;
    int revoked_answers = 0;
    bool announced = false;
    long long last_valid_started_ns = 0;  // steady_clock: CLOCK_MONOTONIC, shared by processes
    for (long i = 0; i < 3'000'000 && revoked_answers < 200; ++i) {
      const long long started_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::steady_clock::now().time_since_epoch())
                                       .count();
      const auto check = keys.validate(key);
      if (check.valid) {
        last_valid_started_ns = started_ns;
        if (revoked_answers > 0) {
          printErr(io, "valid after revoked\n");
          return;
        }
        ++valid_answers;
        if (!announced) {
          // Record a request first: the recorder opens connections of its own beside the one
          // validating, which must not cost that one its view of other processes' commits.
          sp_api_request request{};
          request.size = sizeof(request);
          request.endpoint = "/loop";
          request.method = "GET";
          request.status_code = 200;
          keys.recordRequest(check.key_id, request);
          if (keys.keyUsage(check.key_id).total != 1) {  // waits for the writer's commit
            printErr(io, "the recorded request was not counted\n");
            return;
          }
          printErr(io, "ready\n");
          announced = true;
        }
      } else if (check.reason == SP_API_KEY_REVOKED) {
        ++revoked_answers;
      } else {
        printErr(io, std::string("unexpected ") + reasonName(check.reason) + "\n");
        return;
      }
    }
    printErr(io, "valid=" + std::to_string(valid_answers) +
                     " revoked=" + std::to_string(revoked_answers) +
                     " last_valid_started_ns=" + std::to_string(last_valid_started_ns) + "\n");
    code = revoked_answers == 200 ? SP_EXIT_OK : SP_EXIT_FAILURE;
  });
  return status == SP_OK ? code : SP_EXIT_FAILURE;
}

// Checks <key_id> from <threads> threads, <attempts> times each, through RateLimitService;
// prints how many were admitted.
int hammer(void* ctx, const char* args, const sp_command_io* io, sp_error* error) {
  int code = SP_EXIT_FAILURE;
  const sp_status status = systemprompt::guard(error, [&] {
    const auto limits = systemprompt::RateLimitServiceClient::lookup(*self(ctx).host, 1);
    const std::string key_id = stringArg(args, "key_id");
    const int threads = std::stoi(stringArg(args, "threads"));
    const int attempts = std::stoi(stringArg(args, "attempts"));
    std::atomic<long> admitted{0};
    std::atomic<long> failures{0};
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(threads));
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (int i = 0; i < attempts; ++i) {
          const sp_rate_limit_decision d = limits.check(key_id);
          if (d.allowed) {
            ++admitted;
          } else if (d.outcome != SP_RATE_LIMIT_OVER_LIMIT) {
            ++failures;
          }
        }
      });
    }
    for (auto& t : pool) {
      t.join();
    }
    print(io, "admitted=" + std::to_string(admitted.load()) +
                  " failures=" + std::to_string(failures.load()) + "\n");
    code = failures.load() == 0 ? SP_EXIT_OK : SP_EXIT_FAILURE;
  });
  return status == SP_OK ? code : SP_EXIT_FAILURE;
}

// Checks <key_id> until refused, says "exhausted" on stderr, then checks (without sleeping
// between refusals, for at most 30 s) until admitted again, and says "admitted again".
int limitLoop(void* ctx, const char* args, const sp_command_io* io, sp_error* error) {
  int code = SP_EXIT_FAILURE;
  const sp_status status = systemprompt::guard(error, [&] {
    const auto limits = systemprompt::RateLimitServiceClient::lookup(*self(ctx).host, 1);
    const std::string key_id = stringArg(args, "key_id");
    while (limits.check(key_id).allowed) {
    }
    printErr(io, "exhausted\n");
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until) {
      if (limits.check(key_id).allowed) {
        printErr(io, "admitted again\n");
        code = SP_EXIT_OK;
        return;
      }
    }
    printErr(io, "still refused after 30 s\n");
  });
  return status == SP_OK ? code : SP_EXIT_FAILURE;
}

// Authorizes the key read from stdin (cost 1) through RateLimitService in a loop, for at most
// 120 s, as a host on the request path does, and records every admitted request through
// ApiKeyService; pauses <pause_ms> (default 0) after each admission, 1 ms after each refusal.
// Each admission is one line on stdout, flushed before the next authorize, so a test that
// kills this process knows what was admitted: "admitted <before_ms> <after_ms>", the
// wall-clock ms (the module's clock) read right before and right after the authorize; the
// module decides at a time between the two. No key on stdin prints "no key on stdin", exit 1;
// a refusal other than over_limit (or an admission only because the store failed) prints
// "unexpected outcome <n> (<reason>)" and ends the loop, exit 1.
int admitLoop(void* ctx, const char* args, const sp_command_io* io, sp_error* error) {
  int code = SP_EXIT_FAILURE;
  const sp_status status = systemprompt::guard(error, [&] {
    const auto limits = systemprompt::RateLimitServiceClient::lookup(*self(ctx).host, 1);
    const auto keys = systemprompt::ApiKeyServiceClient::lookup(*self(ctx).host, 2);
    char line[256];
    const long n = io->read_line(io->io_ctx, line, sizeof(line));
    if (n <= 0) {
      print(io, "no key on stdin\n");
      return;
    }
    const std::string key(line, static_cast<size_t>(n));
    std::memset(line, 0, sizeof(line));
    const std::string pause = stringArg(args, "pause_ms");
    const auto pause_after_admission =
        std::chrono::milliseconds(pause.empty() ? 0 : std::stol(pause));
    const auto wallMs = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < until) {
      const long long before_ms = wallMs();
      const sp_authorization a = limits.authorize(key, 1);
      const long long after_ms = wallMs();
      if (a.allowed && a.limit.failed_open == 0) {
        const std::string line_out =
            "admitted " + std::to_string(before_ms) + " " + std::to_string(after_ms) + "\n";
        if (io->write(io->io_ctx, SP_STREAM_STDOUT, line_out.data(), line_out.size()) != 0) {
          return;  // nobody learns of admissions any more
        }
        sp_api_request r{};
        r.size = sizeof(r);
        r.endpoint = "/admit";
        r.method = "GET";
        r.status_code = 200;
        keys.recordRequest(a.key_id, r);
        std::this_thread::sleep_for(pause_after_admission);
      } else if (a.outcome == SP_AUTHORIZE_OVER_LIMIT) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      } else {
        print(io, "unexpected outcome " + std::to_string(a.outcome) + " (" + a.reason + ")\n");
        return;
      }
    }
    code = SP_EXIT_OK;
  });
  return status == SP_OK ? code : SP_EXIT_FAILURE;
}

// Authorizes the key read from stdin, with cost <cost>, and prints every field.
int authorizeCmd(void* ctx, const char* args, const sp_command_io* io, sp_error* error) {
  int code = SP_EXIT_FAILURE;
  const sp_status status = systemprompt::guard(error, [&] {
    const auto limits = systemprompt::RateLimitServiceClient::lookup(*self(ctx).host, 1);
    char line[256];
    const long n = io->read_line(io->io_ctx, line, sizeof(line));
    const std::string key(line, n > 0 ? static_cast<size_t>(n) : 0);
    const std::string cost = stringArg(args, "cost");
    const sp_authorization a = limits.authorize(key, cost.empty() ? 1 : std::stoll(cost));
    print(io, std::string("allowed=") + (a.allowed ? "1" : "0") + " reason=" + a.reason +
                  " key_id=" + a.key_id + " user=" + a.user_id + " scopes=" + a.scopes +
                  " limit=" + std::to_string(a.limit.limit) +
                  " remaining=" + std::to_string(a.limit.remaining) +
                  " retry_after_ms=" + std::to_string(a.limit.retry_after_ms) +
                  " outcome=" + std::to_string(a.outcome) + "\n");
    code = a.allowed ? SP_EXIT_OK : SP_EXIT_FAILURE;
  });
  return status == SP_OK ? code : SP_EXIT_FAILURE;
}

// Records <count> requests for <key_id> through ApiKeyService: endpoint /r/<i % 3>, GET,
// status 500 for every tenth, response time i % 100 ms. Prints how many were queued.
int recordMany(void* ctx, const char* args, const sp_command_io* io, sp_error* error) {
  int code = SP_EXIT_FAILURE;
  const sp_status status = systemprompt::guard(error, [&] {
    const auto keys = systemprompt::ApiKeyServiceClient::lookup(*self(ctx).host, 2);
    const std::string key_id = stringArg(args, "key_id");
    const long count = std::stol(stringArg(args, "count"));
    const std::string endpoints[] = {"/r/0", "/r/1", "/r/2"};
    long queued = 0;
    for (long i = 0; i < count; ++i) {
      sp_api_request r{};
      r.size = sizeof(r);
      r.endpoint = endpoints[i % 3].c_str();
      r.method = "GET";
      r.status_code = i % 10 == 0 ? 500 : 200;
      r.response_time_ms = i % 100;
      r.ip_address = "127.0.0.1";
      r.user_agent = "sibling/1.0";
      queued += keys.recordRequest(key_id, r) ? 1 : 0;
    }
    print(io, "queued=" + std::to_string(queued) + "\n");
    code = SP_EXIT_OK;
  });
  return status == SP_OK ? code : SP_EXIT_FAILURE;
}

// Prints the usage statistics JSON and one key's usage, both through ApiKeyService.
int usageStats(void* ctx, const char* args, const sp_command_io* io, sp_error* error) {
  int code = SP_EXIT_FAILURE;
  const sp_status status = systemprompt::guard(error, [&] {
    const auto keys = systemprompt::ApiKeyServiceClient::lookup(*self(ctx).host, 2);
    const std::string key_id = stringArg(args, "key_id");
    print(io, keys.usageStatsJson("24h") + "\n");
    const sp_api_key_usage u = keys.keyUsage(key_id);
    print(io, "key total=" + std::to_string(u.total) + " successes=" + std::to_string(u.successes) +
                  " failures=" + std::to_string(u.failures) +
                  " p95=" + std::to_string(u.p95_response_ms) + "\n");
    code = SP_EXIT_OK;
  });
  return status == SP_OK ? code : SP_EXIT_FAILURE;
}

// Writes 64 KiB to stdout in one call, then one byte, and says on stderr whether each
// write reported failure (it must, both, when stdout is a full disk).
int writeMuch(void* /*ctx*/, const char* /*args*/, const sp_command_io* io, sp_error* /*error*/) {
  const std::string big(size_t{64} * 1024, 'x');
  const int first = io->write(io->io_ctx, SP_STREAM_STDOUT, big.data(), big.size());
  const int second = io->write(io->io_ctx, SP_STREAM_STDOUT, "y", 1);
  printErr(io, std::string("big=") + (first != 0 ? "failed" : "ok") +
                   " small=" + (second != 0 ? "failed" : "ok") + "\n");
  return SP_EXIT_OK;
}

// Prints what the host says of the terminal: "columns=<n> stdout_terminal=<0|1>" (ABI 1.2).
int terminalInfo(void* /*ctx*/, const char* /*args*/, const sp_command_io* io,
                 sp_error* /*error*/) {
  const systemprompt::CommandIo terminal(*io);
  print(io, "columns=" + std::to_string(terminal.terminalColumns()) +
                " stdout_terminal=" + (terminal.stdoutIsTerminal() ? "1" : "0") + "\n");
  return SP_EXIT_OK;
}

// Returns <code> as its exit code, whatever it is.
int exitWith(void* /*ctx*/, const char* args, const sp_command_io* /*io*/, sp_error* /*error*/) {
  return std::atoi(stringArg(args, "code").c_str());
}

// The documented way: the guard turns the exception into an error exit.
int throwGuarded(void* /*ctx*/, const char* /*args*/, const sp_command_io* /*io*/,
                 sp_error* error) {
  const sp_status status = systemprompt::guard(
      error, [] { throw std::runtime_error("sibling handler failed on purpose"); });
  return status == SP_OK ? SP_EXIT_OK : SP_EXIT_FAILURE;
}

// A misbehaving module that lets an exception escape: the host must still not crash.
int throwUnguarded(void* /*ctx*/, const char* /*args*/, const sp_command_io* /*io*/,
                   sp_error* /*error*/) {
  throw std::runtime_error("escaped from a module on purpose");
}

const sp_module_command kCommands[] = {
    {"sibling:api-health", &apiHealth, nullptr},
    {"sibling:lookup", &lookup, nullptr},
    {"sibling:keys-roundtrip", &keysRoundtrip, nullptr},
    {"sibling:validate-loop", &validateLoop, nullptr},
    {"sibling:hammer", &hammer, nullptr},
    {"sibling:limit-loop", &limitLoop, nullptr},
    {"sibling:admit-loop", &admitLoop, nullptr},
    {"sibling:authorize", &authorizeCmd, nullptr},
    {"sibling:record", &recordMany, nullptr},
    {"sibling:usage", &usageStats, nullptr},
    {"sibling:write-much", &writeMuch, nullptr},
    {"sibling:terminal", &terminalInfo, nullptr},
    {"sibling:exit", &exitWith, nullptr},
    {"sibling:throw", &throwGuarded, nullptr},
    {"sibling:throw-unguarded", &throwUnguarded, nullptr},
};

void shutdown(void* ctx) {
  delete static_cast<Sibling*>(ctx);
}

}  // namespace

extern "C" SP_MODULE_EXPORT sp_status module_init(const sp_host_api* host, sp_module* out,
                                                  sp_error* error) {
  out->abi_major = SP_ABI_VERSION_MAJOR;
  out->abi_minor = SP_ABI_VERSION_MINOR;
  out->log_field_size = sizeof(sp_log_field);
  if (host->abi_major != SP_ABI_VERSION_MAJOR) {
    systemprompt::setError(error, "sibling module: ABI major mismatch");
    return SP_ERROR_ABI;
  }
  out->module_ctx = new Sibling{host};
  out->commands = kCommands;
  out->command_count = sizeof(kCommands) / sizeof(kCommands[0]);
  out->command_size = sizeof(kCommands[0]);
  out->shutdown = &shutdown;
  return SP_OK;
}
