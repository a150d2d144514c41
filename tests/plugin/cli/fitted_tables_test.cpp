// The commands' text fitted to a terminal (issue 13): whole commands run in-process, through
// the Terminal the host's sp_command_io gives them, over a real store with simulated time and
// seeded key ids, so whole outputs can be compared exactly. Names that once broke the tables:
// wide characters (東京 API キー), a combining accent (Café as "Cafe" + U+0301) and a
// 67-character name.
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/terminal.hpp"
#include "seeded_random.hpp"
#include "services/rate_limit_service.hpp"
#include "services/services.hpp"
#include "store_fixture.hpp"
#include "usage/usage_recorder.hpp"
#include "usage/usage_service.hpp"
#include "util/text.hpp"

namespace {

using namespace std::chrono_literals;

const std::string kTokyo = "\xe6\x9d\xb1\xe4\xba\xac API \xe3\x82\xad\xe3\x83\xbc";  // 13 columns
const std::string kCafe = "Cafe\xcc\x81";  // 4 columns: the accent combines with the e
const std::string kLong = "Production API key for the billing service in eu-west-1 (primary)!!";
const std::string kEllipsis = "\xe2\x80\xa6";  // …

// Sets environment variables for one test and puts back what was there.
class EnvOverride {
 public:
  EnvOverride(std::initializer_list<std::pair<const char*, const char*>> values) {
    for (const auto& [name, value] : values) {
      const char* old = std::getenv(name);
      saved_[name] = old == nullptr ? std::nullopt : std::optional<std::string>(old);
      if (value == nullptr) {
        ::unsetenv(name);
      } else {
        ::setenv(name, value, 1);
      }
    }
  }
  ~EnvOverride() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  EnvOverride(const EnvOverride&) = delete;
  EnvOverride& operator=(const EnvOverride&) = delete;

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

// A UTF-8 terminal that allows colour, whatever the environment running the tests says.
EnvOverride utf8Terminal() {
  return EnvOverride{{"LC_ALL", nullptr},
                     {"LC_CTYPE", nullptr},
                     {"LANG", "C.UTF-8"},
                     {"NO_COLOR", nullptr},
                     {"COLUMNS", nullptr}};
}

// What a command wrote, and how it ended.
struct Run {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// The terminal a host hands a command: `columns` wide (0: unknown), stdout a terminal or not.
struct FakeIo {
  std::string out;
  std::string err;
  sp_command_io io{};

  FakeIo(bool stdout_is_terminal, std::uint32_t columns) {
    io.size = sizeof(io);
    io.io_ctx = this;
    io.write = [](void* ctx, sp_stream stream, const char* data, size_t length) {
      auto* self = static_cast<FakeIo*>(ctx);
      (stream == SP_STREAM_STDOUT ? self->out : self->err).append(data, length);
      return 0;
    };
    io.stdout_is_terminal = stdout_is_terminal ? 1 : 0;
    io.terminal_columns = columns;
  }
};

std::string withoutColour(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\x1b') {
      i = text.find('m', i);
      BOOST_REQUIRE(i != std::string::npos);
      continue;
    }
    out += text[i];
  }
  return out;
}

// The widest line of `text` in terminal columns, colour codes left out.
size_t widestLine(const std::string& text) {
  std::istringstream lines(withoutColour(text));
  size_t widest = 0;
  for (std::string line; std::getline(lines, line);) {
    widest = std::max(widest, api::displayWidth(line));
  }
  return widest;
}

struct Fixture : testing_support::StoreFixture {
  Fixture() : StoreFixture("2026-11-25T12:30:00.000Z") {
    BOOST_REQUIRE(kLong.size() == 67);
    // Oldest first: list shows the newest first.
    long_id = create(kLong, "billing-team@payments.example.com");
    clock.advance(1min);
    tokyo_id = create(kTokyo, "tanaka@example.jp", std::nullopt, 10);
    BOOST_REQUIRE(node.keys.validateKey(tokyo_secret).valid);  // its last use
    clock.advance(1min);
    cafe_id = create(kCafe, "ann", 1h);
    clock.advance(1min);
    node.keys.revokeKey(long_id, "Security breach reported by the customer's own security team",
                        "cli:root");
    for (int i = 0; i < 30; ++i) {
      BOOST_REQUIRE(recorder.record(
          i % 3 == 0 ? tokyo_id : long_id,
          {"/v1/customers/{customer_id}/invoices/{invoice_id}/line-items",
           i % 2 == 0 ? "GET" : "POST", i % 5 == 0 ? 503 : 200, 40 + i, "10.0.0.1", "test"}));
    }
    recorder.flush();
    clock.advance(2h);  // Café has expired
    for (int i = 0; i < 9; ++i) {
      BOOST_REQUIRE(limits.check(tokyo_id, 1).allowed);  // 90% of its limit of 10
    }
  }

  std::string create(const std::string& name, const std::string& user,
                     std::optional<std::chrono::milliseconds> expires_in = std::nullopt,
                     std::optional<std::int64_t> limit = std::nullopt) {
    api::CreateKeyRequest r;
    r.rate_limit = limit;
    r.name = name;
    r.user_id = user;
    r.expires_in = expires_in;
    r.actor = "cli:root";
    api::CreatedKey created = node.keys.createKey(r);
    tokyo_secret = created.secret;
    return created.key.id;
  }

  Run run(const std::string& command, const std::string& args_json, bool stdout_is_terminal,
          std::uint32_t columns) {
    FakeIo fake(stdout_is_terminal, columns);
    const api::Terminal terminal(fake.io);
    for (const api::CommandEntry& entry : api::commandTable()) {
      if (entry.name == command) {
        const int code = api::runCommandEntry(entry, services, args_json, terminal);
        return {code, fake.out, fake.err};
      }
    }
    BOOST_FAIL("no command " << command);
    return {};
  }

  testing_support::SeededRandom random{13};
  testing_support::ServiceNode node{path, settings, clock, testing_support::kBusyTimeoutMs, random};
  api::RateLimitService limits{settings, node.store, clock, node.logger, node.keys};
  api::UsageService usage{settings, node.store.usage(), node.store.keys(), clock};
  api::UsageRecorder recorder{settings, node.store, clock, node.logger};
  api::Services services{
      node.keys,
      limits,
      usage,
      recorder,
      clock,
      api::AdapterSettings{settings.rate_limits.window_ms, settings.rate_limits.sub_windows,
                           settings.keys.prefix, settings.usage.aggregation_interval_ms,
                           settings.usage.rollup_retention_ms},
      [](sp_health&) {},
      {}};
  std::string long_id;
  std::string tokyo_id;
  std::string cafe_id;
  std::string tokyo_secret;  // the secret of the key created last

  std::string prefixOf(const std::string& id) { return node.keys.getKey(id).key_prefix; }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(fitted_tables, Fixture)

BOOST_AUTO_TEST_CASE(list_on_an_80_column_terminal_cuts_names_and_leaves_out_two_columns) {
  const EnvOverride env = utf8Terminal();
  const Run r = run("api:keys:list", "{}", true, 80);
  BOOST_TEST(r.exit_code == 0, r.err);
  // The id, status, limit and last use leave 26 columns, shared by name and user; the prefix
  // and creation date give way first. 東京 API キー is 13 columns: it fits, and pads by them.
  BOOST_TEST(
      withoutColour(r.out) ==
          "ID                    NAME           USER           STATUS   LIMIT/1h  LAST USED\n" +
              cafe_id + "  " + kCafe + "           ann            expired  1000      never\n" +
              tokyo_id + "  " + kTokyo + "  tanaka@examp" + kEllipsis +
              "  active   10        2h 2m ago\n" + long_id + "  Production A" + kEllipsis +
              "  billing-team" + kEllipsis +
              "  revoked  1000      never\n"
              "\n3 keys (1 active, 1 revoked, 1 expired)\n",
      r.out);
  BOOST_TEST(widestLine(r.out) == 80u);
  // Statuses in colour, padded by the width of the word alone.
  BOOST_TEST(r.out.find("  \x1b[33mexpired\x1b[0m  1000  ") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("  \x1b[32mactive\x1b[0m   10  ") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("  \x1b[31mrevoked\x1b[0m  1000  ") != std::string::npos, r.out);
}

BOOST_AUTO_TEST_CASE(list_on_a_120_column_terminal_keeps_every_column) {
  const EnvOverride env = utf8Terminal();
  const Run r = run("api:keys:list", "{}", true, 120);
  BOOST_TEST(r.exit_code == 0, r.err);
  // 76 columns of fixed width leave 44: name and user get 22 each.
  BOOST_TEST(
      withoutColour(r.out) ==
          "ID                    NAME                    USER                    STATUS   "
          "LIMIT/1h  LAST USED  CREATED     PREFIX\n" +
              cafe_id + "  " + kCafe +
              "                    ann                     expired  1000      never      "
              "2026-11-25  " +
              prefixOf(cafe_id) + "\n" + tokyo_id + "  " + kTokyo +
              "           tanaka@example.jp       active   10        2h 2m ago  2026-11-25  " +
              prefixOf(tokyo_id) + "\n" + long_id + "  Production API key fo" + kEllipsis +
              "  billing-team@payments" + kEllipsis +
              "  revoked  1000      never      2026-11-25  " + prefixOf(long_id) +
              "\n"
              "\n3 keys (1 active, 1 revoked, 1 expired)\n",
      r.out);
  BOOST_TEST(widestLine(r.out) == 120u);
}

BOOST_AUTO_TEST_CASE(wide_and_output_that_is_not_a_terminal_print_every_cell_whole) {
  const EnvOverride env = utf8Terminal();
  const Run wide = run("api:keys:list", R"({"wide":true})", true, 80);
  const Run piped = run("api:keys:list", "{}", false, 80);
  BOOST_TEST(wide.exit_code == 0, wide.err);
  BOOST_TEST(piped.exit_code == 0, piped.err);
  // The same table, whole: the 67-character name, every user, the prefix and creation date.
  BOOST_TEST(withoutColour(wide.out) == piped.out);
  for (const std::string& whole :
       {kLong, std::string("billing-team@payments.example.com"), std::string("PREFIX"),
        prefixOf(long_id), std::string("CREATED")}) {
    BOOST_TEST(piped.out.find(whole) != std::string::npos, whole << "\n" << piped.out);
  }
  BOOST_TEST(piped.out.find(kEllipsis) == std::string::npos, piped.out);
  BOOST_TEST(widestLine(piped.out) ==
             20u + 2 + 67 + 2 + 33 + 2 + 7 + 2 + 8 + 2 + 9 + 2 + 10 + 2 + 8);
  // Not a terminal: never coloured either.
  BOOST_TEST(piped.out.find('\x1b') == std::string::npos, piped.out);
  // --wide on info keeps the name, the reason and the audit details whole.
  const Run info = run("api:keys:info", R"({"wide":true,"key_id":")" + long_id + R"("})", true, 80);
  BOOST_TEST(info.out.find("  Name        " + kLong + "\n") != std::string::npos, info.out);
  BOOST_TEST(widestLine(info.out) > 80u);
}

BOOST_AUTO_TEST_CASE(json_is_never_cut_or_coloured) {
  const EnvOverride env = utf8Terminal();
  const std::string by_id = R"({"format":"json","key_id":")" + long_id + R"("})";
  for (const auto& [command, args] :
       std::vector<std::pair<std::string, std::string>>{{"api:keys:list", R"({"format":"json"})"},
                                                        {"api:keys:info", by_id},
                                                        {"api:ratelimit:status", by_id}}) {
    const Run r = run(command, args, true, 40);
    BOOST_TEST(r.exit_code == 0, r.err);
    if (command != "api:ratelimit:status") {  // which does not show the name
      BOOST_TEST(r.out.find("\"name\":\"" + kLong + "\"") != std::string::npos, r.out);
    }
    BOOST_TEST(r.out.find(kEllipsis) == std::string::npos, r.out);
    BOOST_TEST(r.out.find('\x1b') == std::string::npos, r.out);
    BOOST_TEST(r.out.find('\n') == r.out.size() - 1, r.out);  // one line, however long
  }
  const Run usage = run("api:usage", R"({"format":"json"})", true, 40);
  BOOST_TEST(usage.out.find("/v1/customers/{customer_id}/invoices/{invoice_id}/line-items") !=
                 std::string::npos,
             usage.out);
}

BOOST_AUTO_TEST_CASE(every_line_fits_80_and_120_columns) {
  const EnvOverride env = utf8Terminal();
  std::vector<std::pair<std::string, std::string>> runs{
      {"api:keys:list", "{}"},
      {"api:usage", "{}"},
      {"api:usage", R"({"format":"chart"})"},
      {"api:usage", R"({"period":"30d"})"}};  // daily buckets
  for (const std::string& id : {long_id, tokyo_id, cafe_id}) {
    runs.emplace_back("api:keys:info", R"({"key_id":")" + id + R"("})");
    runs.emplace_back("api:ratelimit:status", R"({"key_id":")" + id + R"("})");
    runs.emplace_back("api:usage", R"({"key":")" + id + R"("})");
  }
  for (const std::uint32_t columns : {80u, 120u}) {
    for (const auto& [command, args] : runs) {
      const Run r = run(command, args, true, columns);
      BOOST_TEST(r.exit_code == 0, command << " " << args << ": " << r.err);
      BOOST_TEST(widestLine(r.out) <= columns, command << " " << args << " at " << columns
                                                       << " columns:\n"
                                                       << r.out);
    }
  }
}

BOOST_AUTO_TEST_CASE(no_color_leaves_out_every_escape_and_an_empty_one_does_not) {
  const EnvOverride env = utf8Terminal();
  std::vector<std::pair<std::string, std::string>> runs{
      {"api:keys:list", "{}"},
      {"api:keys:info", R"({"key_id":")" + tokyo_id + R"("})"},
      {"api:ratelimit:status", R"({"key_id":")" + tokyo_id + R"("})"},
      {"api:usage", "{}"}};
  {
    const EnvOverride no_color{{"NO_COLOR", "1"}};
    for (const auto& [command, args] : runs) {
      const Run r = run(command, args, true, 80);
      BOOST_TEST(r.exit_code == 0, r.err);
      BOOST_TEST(r.out.find('\x1b') == std::string::npos, command << ":\n" << r.out);
      BOOST_TEST(widestLine(r.out) <= 80u, r.out);  // still fitted
    }
  }
  // no-color.org: set to an empty string, NO_COLOR means nothing.
  const EnvOverride empty{{"NO_COLOR", ""}};
  const Run status = run("api:ratelimit:status", runs[2].second, true, 80);
  // 9 of 10 used: the bar and the warning in yellow.
  BOOST_TEST(status.out.find("  Usage      \x1b[33m[##################--] 90%\x1b[0m\n") !=
                 std::string::npos,
             status.out);
  BOOST_TEST(
      status.out.find("\x1b[33mwarning:\x1b[0m 90% of the limit is used\n") != std::string::npos,
      status.out);
  const Run info = run("api:keys:info", runs[1].second, true, 80);
  BOOST_TEST(info.out.find("  Status      \x1b[32mactive\x1b[0m\n") != std::string::npos, info.out);
}

BOOST_AUTO_TEST_CASE(a_c_locale_cuts_with_three_dots) {
  const EnvOverride env = utf8Terminal();
  const EnvOverride c_locale{{"LANG", "C"}};
  const Run r = run("api:keys:list", "{}", true, 80);
  BOOST_TEST(withoutColour(r.out).find(long_id + "  Production...  billing-te...  revoked") !=
                 std::string::npos,
             r.out);
  BOOST_TEST(widestLine(r.out) == 80u);
}

BOOST_AUTO_TEST_CASE(the_width_comes_from_the_host_or_from_columns_for_an_older_one) {
  const EnvOverride env = utf8Terminal();
  FakeIo fake(true, 100);
  BOOST_TEST(api::Terminal(fake.io).columns() == 100u);
  {
    // A 1.2 host that does not know the width: not guessed from COLUMNS, which the host read.
    const EnvOverride columns{{"COLUMNS", "80"}};
    fake.io.terminal_columns = 0;
    BOOST_TEST(api::Terminal(fake.io).columns() == 0u);
    // A 1.1 host says nothing: COLUMNS, when it is a whole number 1..65535.
    fake.io.size = SP_COMMAND_IO_SIZE_1_1;
    BOOST_TEST(api::Terminal(fake.io).columns() == 80u);
  }
  fake.io.size = SP_COMMAND_IO_SIZE_1_1;
  for (const char* junk : {"", "0", "-80", "+80", "80x", " 80", "65536", "99999999999999999999"}) {
    const EnvOverride columns{{"COLUMNS", junk}};
    BOOST_TEST(api::Terminal(fake.io).columns() == 0u, junk);
  }
  // Unknown width: printed whole.
  const Run whole = run("api:keys:list", "{}", true, 0);
  BOOST_TEST(whole.out.find(kLong) != std::string::npos, whole.out);
}

BOOST_AUTO_TEST_SUITE_END()
