// module_init and ApiModule in-process, through the C ABI as a host sees them.
#include <sys/prctl.h>

#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "api_module.hpp"
#include "process.hpp"
#include "store/migrations.hpp"
#include "store/sqlite/sqlite_stores.hpp"
#include "systemprompt/api_clients.hpp"
#include "systemprompt/module.hpp"

extern "C" sp_status module_init(const sp_host_api* host, sp_module* out, sp_error* error);

namespace {

struct FakeHost {
  std::string config = "{}";
  testing_support::TempDir state;
  std::vector<std::string> log_lines;
  sp_host_api api{};

  FakeHost() {
    api.size = sizeof(api);
    api.abi_major = SP_ABI_VERSION_MAJOR;
    api.abi_minor = SP_ABI_VERSION_MINOR;
    api.host_ctx = this;
    api.module_name = "api";
    api.state_dir = state.path().c_str();
    api.log = [](void* ctx, sp_log_level, const char* message, const sp_log_field* fields,
                 size_t count) {
      std::string line = message;
      for (size_t i = 0; i < count; ++i) {
        line += std::string(" ") + fields[i].key + "=" + fields[i].value;
      }
      static_cast<FakeHost*>(ctx)->log_lines.push_back(line);
    };
    api.log_enabled = [](void*, sp_log_level) { return 1; };
    api.get_service = [](void*, const char*, const char*, uint32_t, uint32_t,
                         uint32_t*) -> const void* { return nullptr; };
  }
  const sp_host_api& host() {
    api.config_json = config.c_str();
    return api;
  }
};

// A command io whose writes, to either stream, are appended to `into`.
sp_command_io capturingIo(std::string& into) {
  sp_command_io io{};
  io.size = sizeof(io);
  io.io_ctx = &into;
  io.write = [](void* ctx, sp_stream, const char* data, size_t length) {
    static_cast<std::string*>(ctx)->append(data, length);
    return 0;
  };
  return io;
}

sp_module emptyModule() {
  sp_module m{};
  m.size = sizeof(m);
  return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(module_init_abi)

BOOST_AUTO_TEST_CASE(refuses_a_host_of_another_abi_major_naming_both_versions) {
  FakeHost fake;
  sp_host_api api = fake.host();
  api.abi_major = SP_ABI_VERSION_MAJOR + 1;
  api.abi_minor = 4;
  sp_module out = emptyModule();
  sp_error error = systemprompt::makeError();
  BOOST_TEST(module_init(&api, &out, &error) == SP_ERROR_ABI);
  const std::string message = error.message;
  const std::string ours = "built for module ABI " + std::to_string(SP_ABI_VERSION_MAJOR) + "." +
                           std::to_string(SP_ABI_VERSION_MINOR);
  BOOST_TEST(message.find(ours) != std::string::npos, message);
  BOOST_TEST(message.find("host speaks ABI 2.4") != std::string::npos, message);
  BOOST_TEST(out.abi_major == static_cast<uint32_t>(SP_ABI_VERSION_MAJOR));  // always reported
  BOOST_TEST(out.shutdown == nullptr);
}

BOOST_AUTO_TEST_CASE(a_bad_config_fails_init_with_the_key_and_leaves_nothing_behind) {
  FakeHost fake;
  fake.config = R"({"cleanupInterval":"soon"})";
  sp_module out = emptyModule();
  sp_error error = systemprompt::makeError();
  BOOST_TEST(module_init(&fake.host(), &out, &error) == SP_ERROR);
  BOOST_TEST(std::string(error.message).find("'cleanupInterval'") != std::string::npos,
             error.message);
  BOOST_TEST(out.commands == nullptr);  // no tables handed out for a module that failed
  BOOST_TEST(out.shutdown == nullptr);
}

BOOST_AUTO_TEST_CASE(serves_commands_services_health_and_cleanup_then_shuts_down) {
  FakeHost fake;
  sp_module out = emptyModule();
  sp_error error = systemprompt::makeError();
  BOOST_REQUIRE_MESSAGE(module_init(&fake.host(), &out, &error) == SP_OK, error.message);
  BOOST_TEST(out.command_count == 10u);
  BOOST_TEST(std::string(out.commands[0].name) == "api:keys:create");
  BOOST_REQUIRE(out.service_count == 2u);
  BOOST_TEST(std::string(out.services[0].name) == SP_API_KEY_SERVICE_NAME);
  const auto* keys = static_cast<const sp_api_key_service*>(out.services[0].table);
  BOOST_TEST(keys->size == sizeof(sp_api_key_service));
  const systemprompt::Health health =
      systemprompt::ApiKeyServiceClient(keys, out.services[0].version_minor).health();
  BOOST_TEST(health.healthy, health.detail);
  const std::string latest = std::to_string(api::schemaMigrations().back().version);
  BOOST_TEST(health.detail.find("schema version " + latest + " of " + latest) != std::string::npos,
             health.detail);
  fake.log_lines.clear();
  BOOST_TEST(out.cleanup(out.module_ctx, &error) == SP_OK, error.message);
  // This host logs everything: cleanup's statements at trace level, then its summary.
  std::vector<std::string> not_traced;
  size_t statements = 0;
  for (const std::string& line : fake.log_lines) {
    if (line.rfind("sql statement run connection=main ", 0) == 0) {
      ++statements;
    } else {
      not_traced.push_back(line);
    }
  }
  BOOST_TEST(statements >= 2u);  // the windows' and the usage rows' deletes at least
  BOOST_REQUIRE(not_traced.size() == 1u);
  BOOST_TEST(not_traced[0] ==
             "cleanup done rate_limit_windows_deleted=0 requests_deleted=0 rollups_deleted=0");
  out.shutdown(out.module_ctx);
}

BOOST_AUTO_TEST_CASE(the_key_service_lists_keys_and_respects_older_callers_layouts) {
  FakeHost fake;
  sp_module out = emptyModule();
  sp_error error = systemprompt::makeError();
  BOOST_REQUIRE_MESSAGE(module_init(&fake.host(), &out, &error) == SP_OK, error.message);
  const auto* keys = static_cast<const sp_api_key_service*>(out.services[0].table);
  BOOST_REQUIRE(out.services[0].version_minor >= 3u);
  std::vector<std::string> ids;
  for (const char* user : {"ann", "ann", "bob"}) {
    sp_api_key_create_request request{};
    request.size = sizeof(request);
    request.user_id = user;
    request.name = "k";
    request.metadata_json = R"({"team":"billing"})";
    sp_api_key_created created{};
    created.size = sizeof(created);
    BOOST_REQUIRE_MESSAGE(keys->create(keys->ctx, &request, &created, &error) == SP_OK,
                          error.message);
    BOOST_TEST(created.rate_limit == 1000);  // 1.3: the limit granted, here the default
    ids.emplace_back(created.key_id);
  }
  BOOST_REQUIRE(keys->revoke(keys->ctx, ids[0].c_str(), "gone", "test", &error) == SP_OK);

  std::vector<sp_api_key_info> infos(1);
  infos[0].size = sizeof(sp_api_key_info);
  size_t count = 0;
  BOOST_TEST(keys->list(keys->ctx, "ann", 0, infos.data(), infos.size(), &count, &error) ==
             SP_ERROR_INVALID);  // too small: nothing written, the count says how many
  BOOST_TEST(count == 2u);
  infos.resize(4);
  infos[0].size = sizeof(sp_api_key_info);
  BOOST_REQUIRE(keys->list(keys->ctx, "ann", 0, infos.data(), infos.size(), &count, &error) ==
                SP_OK);
  BOOST_REQUIRE(count == 2u);
  const sp_api_key_info& revoked = std::string(infos[0].key_id) == ids[0] ? infos[0] : infos[1];
  BOOST_TEST(revoked.status == SP_API_KEY_REVOKED);
  BOOST_TEST(std::string(revoked.revoked_reason) == "gone");
  BOOST_TEST(std::string(revoked.metadata_json) == R"({"team":"billing"})");
  BOOST_REQUIRE(keys->list(keys->ctx, nullptr, 1, infos.data(), infos.size(), &count, &error) ==
                SP_OK);
  BOOST_TEST(count == 2u);  // everyone's active keys: ann's second and bob's

  // A 1.1 caller's array: elements of the 1.1 size, nothing written past them.
  constexpr size_t kOldSize =
      (offsetof(sp_api_key_info, revoked_reason) + alignof(sp_api_key_info) - 1) /
      alignof(sp_api_key_info) * alignof(sp_api_key_info);
  std::vector<std::int64_t> storage((2 * kOldSize + 64) / sizeof(std::int64_t) + 1,
                                    std::int64_t{0x5A5A5A5A5A5A5A5A});
  auto* old = reinterpret_cast<sp_api_key_info*>(storage.data());
  old->size = kOldSize;
  BOOST_REQUIRE_MESSAGE(keys->list(keys->ctx, "ann", 0, old, 2, &count, &error) == SP_OK,
                        error.message);
  const auto* second =
      reinterpret_cast<const sp_api_key_info*>(reinterpret_cast<const char*>(old) + kOldSize);
  BOOST_TEST((std::string(old->key_id) == ids[1] || std::string(second->key_id) == ids[1]));
  const auto* bytes = reinterpret_cast<const unsigned char*>(storage.data());
  for (size_t i = 2 * kOldSize; i < storage.size() * sizeof(std::int64_t); ++i) {
    BOOST_REQUIRE(bytes[i] == 0x5A);
  }
  out.shutdown(out.module_ctx);
}

BOOST_AUTO_TEST_CASE(cleanup_uses_the_injected_clock_and_the_configured_window) {
  FakeHost fake;
  testing_support::TempDir dir;
  api::ApiSettings settings;
  settings.rate_limits.window_ms = 60'000;
  settings.store.database_path = dir.path() + "/c.db";
  auto clock = std::make_unique<api::ManualClock>(api::TimePoint(std::chrono::milliseconds(0)));
  api::ManualClock& time = *clock;
  auto store = std::make_unique<api::SqliteStores>(
      api::SqliteStoreOptions{settings.store.database_path, 1000});
  {
    api::SqliteDb db(settings.store.database_path);
    db.exec(
        "INSERT INTO api_keys (id, key_hash, key_prefix, user_id, name) "
        "VALUES ('k', 'h', 'sk_x', 'u', 'n');"
        "INSERT INTO api_rate_limits VALUES ('k', 0, 1000, 1, 10);",
        "seeding");
  }
  api::ApiModule module(fake.host(), settings, std::move(clock), std::move(store));
  time.set(api::TimePoint(std::chrono::milliseconds(60'999)));  // window [0,1000) still counts
  BOOST_TEST(module.cleanup() == 0);
  time.advance(std::chrono::milliseconds(1));  // now 61000: it ended a full window ago
  BOOST_TEST(module.cleanup() == 1);
}

BOOST_AUTO_TEST_CASE(a_command_failure_is_an_exit_code_with_a_message) {
  FakeHost fake;
  sp_module out = emptyModule();
  sp_error error = systemprompt::makeError();
  BOOST_REQUIRE(module_init(&fake.host(), &out, &error) == SP_OK);
  std::string err_text;
  sp_command_io io = capturingIo(err_text);
  const int code =
      out.commands[2].run(out.commands[2].ctx, R"({"key_id":"key_0000000000000000"})", &io, &error);
  BOOST_TEST(std::string(out.commands[2].name) == "api:keys:info");
  BOOST_TEST(code == SP_EXIT_FAILURE);
  BOOST_TEST(err_text == "error: no key with id \"key_0000000000000000\"\n", err_text);
  out.shutdown(out.module_ctx);
}

BOOST_AUTO_TEST_CASE(one_function_serves_every_command_through_its_ctx) {
  FakeHost fake;
  sp_module out = emptyModule();
  sp_error error = systemprompt::makeError();
  BOOST_REQUIRE(module_init(&fake.host(), &out, &error) == SP_OK);
  BOOST_TEST(out.command_size == sizeof(sp_module_command));
  for (size_t i = 0; i < out.command_count; ++i) {
    BOOST_TEST(out.commands[i].run == out.commands[0].run);
    BOOST_TEST(out.commands[i].ctx != nullptr);
  }
  // A host that passes module_ctx instead (as 1.0 did) gets an error, never a misread.
  std::string written;
  sp_command_io io = capturingIo(written);
  BOOST_TEST(out.commands[1].run(out.module_ctx, "{}", &io, &error) == SP_EXIT_FAILURE);
  BOOST_TEST(std::string(error.message).find("sp_module_command.ctx") != std::string::npos,
             error.message);
  BOOST_TEST(written.empty());
  out.shutdown(out.module_ctx);
}

BOOST_AUTO_TEST_CASE(results_are_reset_first_and_declared_sizes_are_honoured) {
  FakeHost fake;
  sp_module out = emptyModule();
  sp_error error = systemprompt::makeError();
  BOOST_REQUIRE_MESSAGE(module_init(&fake.host(), &out, &error) == SP_OK, error.message);
  const auto* keys = static_cast<const sp_api_key_service*>(out.services[0].table);
  const auto* limits = static_cast<const sp_rate_limit_service*>(out.services[1].table);
  sp_api_key_create_request request{};
  request.size = sizeof(request);
  request.user_id = "ann";
  request.name = "k";
  sp_api_key_created created{};
  created.size = sizeof(created);
  BOOST_REQUIRE(keys->create(keys->ctx, &request, &created, &error) == SP_OK);

  // A refused call leaves no earlier verdict behind: `allowed` from the admitted check
  // must not survive a call that failed on its cost.
  sp_rate_limit_decision decision{};
  decision.size = sizeof(decision);
  BOOST_REQUIRE(limits->check(limits->ctx, created.key_id, 1, &decision, &error) == SP_OK);
  BOOST_REQUIRE(decision.allowed == 1);
  BOOST_TEST(limits->check(limits->ctx, created.key_id, 0, &decision, &error) == SP_ERROR_INVALID);
  BOOST_TEST(decision.allowed == 0);
  BOOST_TEST(decision.outcome == SP_RATE_LIMIT_STORE_ERROR);
  BOOST_TEST(decision.retry_after_ms == -1);
  decision.allowed = 1;
  BOOST_TEST(limits->peek(limits->ctx, created.key_id, -5, &decision, &error) == SP_ERROR_INVALID);
  BOOST_TEST(decision.allowed == 0);

  // An error slot that declares 16 bytes of message gets at most 16, terminated.
  struct {
    sp_error error;
    unsigned char guard[8];
  } slot{};
  std::memset(&slot, 0x5A, sizeof(slot));
  slot.error.size = static_cast<uint32_t>(offsetof(sp_error, message) + 16);
  BOOST_TEST(keys->revoke(keys->ctx, "key_0000000000000000", "", "test", &slot.error) ==
             SP_ERROR_NOT_FOUND);
  BOOST_TEST(std::strlen(slot.error.message) == 15u);
  BOOST_TEST(std::string(slot.error.message) == std::string("no key with id \"key_").substr(0, 15));
  const auto* raw = reinterpret_cast<const unsigned char*>(slot.error.message);
  for (size_t i = 16; i < sizeof(slot.error.message); ++i) {
    BOOST_REQUIRE(raw[i] == 0x5A);  // nothing written past the declared size
  }
  slot.error.size = static_cast<uint32_t>(offsetof(sp_error, message));  // no room at all
  slot.error.message[0] = 'x';
  BOOST_TEST(keys->revoke(keys->ctx, "key_0000000000000000", "", "test", &slot.error) ==
             SP_ERROR_NOT_FOUND);
  BOOST_TEST(slot.error.message[0] == 'x');

  // A command io below its 1.0 layout is refused, not read.
  sp_command_io io{};
  io.size = 8;
  BOOST_TEST(out.commands[1].run(out.commands[1].ctx, "{}", &io, &error) == SP_EXIT_FAILURE);
  BOOST_TEST(std::string(error.message).find("below its ABI 1.0 layout") != std::string::npos,
             error.message);
  out.shutdown(out.module_ctx);
}

BOOST_AUTO_TEST_CASE(commands_that_handle_secrets_make_the_process_non_dumpable) {
  FakeHost fake;
  sp_module out = emptyModule();
  sp_error error = systemprompt::makeError();
  BOOST_REQUIRE(module_init(&fake.host(), &out, &error) == SP_OK);
  std::string written;
  sp_command_io io = capturingIo(written);
  BOOST_REQUIRE(::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == 0);
  BOOST_REQUIRE(std::string(out.commands[1].name) == "api:keys:list");
  out.commands[1].run(out.commands[1].ctx, "{}", &io, &error);
  BOOST_TEST(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1);  // listing holds no secret
  BOOST_REQUIRE(std::string(out.commands[5].name) == "api:keys:verify");
  out.commands[5].run(out.commands[5].ctx, R"({"key":"sk_not_a_key"})", &io, &error);
  BOOST_TEST(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
  ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);  // the rest of this test process may be debugged
  out.shutdown(out.module_ctx);
}

BOOST_AUTO_TEST_SUITE_END()
