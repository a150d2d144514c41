// Crash safety: real processes share one store under load (CLI processes creating, revoking
// and rotating keys; sibling hosts checking one key's limit and recording its requests;
// `prompt serve` running cleanup every 10 ms) and are SIGKILLed at random moments. After each
// round, every process reaped, the store must be intact and keep every promise that a process
// made before it died. CRASH_SEED=<n> replays a run's schedule.
#include <signal.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "installation.hpp"
#include "process.hpp"

namespace {

namespace json = boost::json;
using testing_support::CapturingChild;
using testing_support::contains;
using testing_support::describe;
using testing_support::Installation;
using testing_support::ProcessOptions;
using testing_support::ProcessResult;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::int64_t kWindowMs = 1'000;  // the shortest rateLimitWindowSize accepted
constexpr std::int64_t kSubWindows = 10;
constexpr std::int64_t kSubWindowMs = kWindowMs / kSubWindows;
constexpr std::int64_t kLimit = 20;  // the hammered key's requests per window
constexpr int kRounds = 12;
constexpr int kCliLanes = 2;  // CLI commands running at once
constexpr int kAdmitLoops = 2;
constexpr int kSpotChecks = 5;  // keys verified again each round, besides the new and changed

// One admission printed by sibling:admit-loop: the module decided at a wall-clock time
// between the two it read, in ms since the epoch.
struct Admission {
  std::int64_t before_ms;
  std::int64_t after_ms;
};

struct BusiestRun {
  std::int64_t count = 0;
  std::int64_t first_sub_window = 0;  // of the (first) run holding `count`
};

// The most admissions that certainly fell in one run of `n` consecutive sub-windows of
// `sub_ms` each, sub-window k holding the times t with floor(t / sub_ms) = k (README, Rate
// limiting): an admission counts for a run when every sub-window its decision can have been
// in lies in that run. Times are after the epoch, so division floors.
BusiestRun busiestRun(const std::vector<Admission>& admissions, std::int64_t sub_ms,
                      std::int64_t n) {
  std::map<std::int64_t, std::int64_t> delta;  // by a run's first sub-window
  for (const Admission& a : admissions) {
    const std::int64_t first = std::min(a.before_ms, a.after_ms) / sub_ms;
    const std::int64_t last = std::max(a.before_ms, a.after_ms) / sub_ms;
    if (last - first < n) {  // else no run holds it for certain
      ++delta[last - n + 1];
      --delta[first + 1];
    }
  }
  BusiestRun best;
  std::int64_t count = 0;
  for (const auto& [first_sub_window, change] : delta) {
    count += change;
    if (count > best.count) {
      best = {count, first_sub_window};
    }
  }
  return best;
}

std::uint64_t crashSeed() {
  const char* given = std::getenv("CRASH_SEED");
  if (given != nullptr && *given != '\0') {
    return std::stoull(given);
  }
  std::random_device device;
  return (std::uint64_t{device()} << 32) | device();
}

// The first line of `out` as a JSON object, when the line is complete (a process killed while
// writing it left no newline) and parses.
std::optional<json::object> completeJsonLine(const std::string& out) {
  const auto end = out.find('\n');
  if (end == std::string::npos) {
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::value v = json::parse(out.substr(0, end), ec);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  return std::move(v.as_object());
}

// The rows a statement answers, column 0 as text, on a connection of this process.
std::vector<std::string> queryRows(const std::string& database, const char* sql) {
  sqlite3* db = nullptr;
  std::vector<std::string> rows;
  if (sqlite3_open_v2(database.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    rows.push_back(std::string("cannot open: ") + sqlite3_errmsg(db));
    sqlite3_close(db);
    return rows;
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    rows.push_back(std::string("cannot prepare: ") + sqlite3_errmsg(db));
  } else {
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      rows.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "NULL");
    }
    if (rc != SQLITE_DONE) {
      rows.push_back(std::string("step failed: ") + sqlite3_errmsg(db));
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

std::string joined(const std::vector<std::string>& rows) {
  std::string out;
  for (const auto& r : rows) {
    out += r + "\n";
  }
  return out;
}

// What the test knows of a key it created. A revoke or rotate killed before it reported leaves
// the key maybe revoked, until a check after the round finds out which (nobody else touches
// it, so it stays whatever it was when its command died).
enum class KeyState { kActive, kRevoked, kMaybeRevoked };

const char* stateName(KeyState s) {
  switch (s) {
    case KeyState::kActive:
      return "active";
    case KeyState::kRevoked:
      return "revoked";
    case KeyState::kMaybeRevoked:
      return "maybe revoked";
  }
  return "?";
}

struct TrackedKey {
  std::string secret;
  KeyState state = KeyState::kActive;
  bool busy = false;    // a CLI command on it runs
  bool changed = true;  // new or changed since the last check: verify it then
  std::string learned;  // how the test came to its state, for messages
};

enum class CliKind { kCreate, kRevoke, kRotate };

struct CliCommand {
  CliKind kind = CliKind::kCreate;
  std::string key_id;  // revoke and rotate
  std::unique_ptr<CapturingChild> child;
  Clock::time_point started;
  std::optional<Clock::time_point> kill_at;
};

// Runs CLI commands one after another, with short pauses between them.
struct CliLane {
  std::optional<CliCommand> command;
  Clock::time_point idle_until;
};

enum class DaemonKind { kServe, kAdmitLoop };

// A long-running process slot: killed at a random moment, started again after a pause.
struct Daemon {
  DaemonKind kind = DaemonKind::kServe;
  std::unique_ptr<CapturingChild> child;
  Clock::time_point start_at;  // while no child runs
  Clock::time_point kill_at;   // while one runs
};

struct Totals {
  int creates_delivered = 0;  // create printed its secret
  int revokes_confirmed = 0;  // revoke exited 0
  int rotates_delivered = 0;  // rotate printed its document
  int cli_killed = 0;
  int reported_then_killed = 0;  // killed after it printed what it did
  int maybe_resolved_revoked = 0;
  int maybe_resolved_active = 0;
  int serve_killed = 0;
  int admit_loops_killed = 0;
  int cleanups_ran = 0;
  int keys_verified = 0;
};

class CrashRun {
 public:
  explicit CrashRun(std::uint64_t seed) : rng_(seed) {
    env_.env["PROMPT_API_RATE_LIMIT_WINDOW_SIZE"] = std::to_string(kWindowMs);
    env_.env["PROMPT_API_RATE_LIMIT_SUB_WINDOWS"] = std::to_string(kSubWindows);
    env_.env["PROMPT_API_USAGE_FLUSH_INTERVAL"] = "10";  // the least: many usage commits
    env_.env["PROMPT_API_MAX_KEYS_PER_USER"] = "0";
    // Under AddressSanitizer (scripts/test --sanitize), a process SIGKILLed while LeakSanitizer
    // checks it at exit leaves a "report" that only says the checker lost its threads: these
    // children die on purpose, so their leak check is off (every other test keeps it).
    if (const char* asan = std::getenv("ASAN_OPTIONS"); asan != nullptr) {
      env_.env["ASAN_OPTIONS"] = std::string(asan) + ":detect_leaks=0";
    }
    const ProcessResult hammered =
        prompt({"api:keys:create", "--name", "hammered", "--user", "loop", "--limit",
                std::to_string(kLimit), "-f", "json"});
    const auto doc = completeJsonLine(hammered.out);
    BOOST_REQUIRE_MESSAGE(hammered.exit_code == 0 && doc, describe(hammered));
    hammered_id_ = std::string(doc->at("key").as_object().at("id").as_string());
    keys_[hammered_id_] = {std::string(doc->at("secret").as_string()), KeyState::kActive, false,
                           true, "the hammered key"};
    daemons_.push_back({DaemonKind::kServe, nullptr, {}, {}});
    for (int i = 0; i < kAdmitLoops; ++i) {
      daemons_.push_back({DaemonKind::kAdmitLoop, nullptr, {}, {}});
    }
  }

  void round(int number) {
    const auto start = Clock::now();
    const auto end = start + ms(1'500, 3'000);
    for (Daemon& d : daemons_) {
      d.start_at = start + ms(0, 50);
    }
    std::vector<CliLane> lanes(kCliLanes);
    while (Clock::now() < end) {
      const auto now = Clock::now();
      for (Daemon& d : daemons_) {
        tick(d, now, end);
      }
      for (CliLane& lane : lanes) {
        tick(lane, now);
      }
      std::this_thread::sleep_for(milliseconds(1));
    }
    // The end of a round: every process still running is killed at once.
    for (Daemon& d : daemons_) {
      if (d.child) {
        d.child->kill();
      }
    }
    for (CliLane& lane : lanes) {
      if (lane.command) {
        lane.command->child->kill();
      }
    }
    for (Daemon& d : daemons_) {
      if (d.child) {
        finish(d, Clock::now());
      }
    }
    for (CliLane& lane : lanes) {
      if (lane.command) {
        finish(*lane.command);
      }
    }
    BOOST_TEST_MESSAGE("round " << number << ": " << keys_.size() << " keys known, "
                                << admissions_.size() << " admissions seen");
  }

  // Every check, with every process of the round reaped.
  void checkStore() {
    // 5. A new process opens the store as the crashes left it, with no repair.
    const ProcessResult health = prompt({"health"});
    BOOST_TEST(health.exit_code == 0, describe(health));
    BOOST_TEST((contains(health.out, "healthy") && !contains(health.out, "unhealthy")),
               describe(health));
    // 1. The file is intact.
    const std::string database = install_.database();
    const auto integrity = queryRows(database, "PRAGMA integrity_check");
    BOOST_TEST((integrity == std::vector<std::string>{"ok"}), joined(integrity));
    const auto foreign = queryRows(database, "PRAGMA foreign_key_check");
    BOOST_TEST(foreign.empty(), joined(foreign));
    // 2, 3. Every key is what its commands said, in the list and to verify.
    const ProcessResult list = prompt({"api:keys:list", "--format", "json"});
    BOOST_TEST_REQUIRE(list.exit_code == 0, describe(list));
    std::map<std::string, std::string> listed;  // id -> status
    const json::value list_doc = json::parse(list.out);
    for (const json::value& k : list_doc.at("keys").as_array()) {
      listed[std::string(k.at("id").as_string())] = std::string(k.at("status").as_string());
    }
    std::vector<std::string> spot;
    for (const auto& [id, key] : keys_) {
      if (!key.changed) {
        spot.push_back(id);
      }
    }
    std::shuffle(spot.begin(), spot.end(), rng_);
    spot.resize(std::min<size_t>(spot.size(), kSpotChecks));
    // Keys no command reported: a create or rotate killed between its commit and its output.
    // Nobody holds their secrets; counted, since no promise covers them.
    unreported_keys_ = std::count_if(listed.begin(), listed.end(), [&](const auto& entry) {
      return keys_.find(entry.first) == keys_.end();
    });
    for (auto& [id, key] : keys_) {
      checkListed(id, key, listed);
      // A key revoked for certain is checked by the list alone, unless spot-checked.
      if ((key.changed && key.state != KeyState::kRevoked) ||
          std::find(spot.begin(), spot.end(), id) != spot.end()) {
        checkVerified(id, key);
      }
      key.changed = false;
    }
    // 4. No run of N sub-windows holds more than L admissions.
    const BusiestRun busiest = busiestRun(admissions_, kSubWindowMs, kSubWindows);
    BOOST_TEST(busiest.count <= kLimit, busiest.count << " admissions in the " << kSubWindows
                                                      << " sub-windows from the one starting at "
                                                      << busiest.first_sub_window * kSubWindowMs
                                                      << " ms");
    most_in_a_run_ = std::max(most_in_a_run_, busiest.count);
  }

  // What the whole run did: evidence that the checks above had something to check.
  void checkCoverage() const {
    std::ostringstream cli;
    cli << "creates delivered " << totals_.creates_delivered << ", revokes confirmed "
        << totals_.revokes_confirmed << ", rotates delivered " << totals_.rotates_delivered
        << "; CLI commands killed " << totals_.cli_killed << " (" << totals_.reported_then_killed
        << " after reporting what they did); killed revokes and"
        << " rotates found later: " << totals_.maybe_resolved_revoked << " had revoked, "
        << totals_.maybe_resolved_active << " had not";
    BOOST_TEST_MESSAGE(cli.str());
    std::ostringstream hosts;
    hosts << "serve killed " << totals_.serve_killed << " (cleanups run " << totals_.cleanups_ran
          << "), admit loops killed " << totals_.admit_loops_killed << ", admissions "
          << admissions_.size() << " (" << uncertainAdmissions()
          << " straddling a sub-window boundary), busiest run " << most_in_a_run_ << " of "
          << kLimit << ", keys verified " << totals_.keys_verified
          << ", keys in the store that no command reported " << unreported_keys_;
    BOOST_TEST_MESSAGE(hosts.str());
    BOOST_TEST(totals_.creates_delivered > 0);
    BOOST_TEST(totals_.revokes_confirmed > 0);
    BOOST_TEST(totals_.rotates_delivered > 0);
    BOOST_TEST(totals_.cli_killed > 0);
    BOOST_TEST(totals_.serve_killed >= kRounds);
    BOOST_TEST(totals_.admit_loops_killed >= kRounds * kAdmitLoops);
    BOOST_TEST(totals_.cleanups_ran > 0);
    // The admit loops kept the key at its limit, so the window was really full at times.
    BOOST_TEST(most_in_a_run_ == kLimit);
  }

 private:
  milliseconds ms(int low, int high) {
    return milliseconds(std::uniform_int_distribution<int>(low, high)(rng_));
  }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  ProcessResult prompt(std::vector<std::string> args, const std::string& stdin_data = {}) const {
    ProcessOptions extra = env_;
    extra.stdin_data = stdin_data;
    return install_.prompt(std::move(args), extra);
  }

  std::unique_ptr<CapturingChild> spawn(std::vector<std::string> args,
                                        std::string stdin_data = "") const {
    args.insert(args.begin(), PROMPT_BIN);
    auto options = install_.options(env_);
    options.stdin_data = std::move(stdin_data);
    return std::make_unique<CapturingChild>(args, options);
  }

  void tick(Daemon& d, Clock::time_point now, Clock::time_point round_end) {
    if (d.child) {
      d.child->poll();
      if (!d.child->running()) {
        finish(d, now);
      } else if (now >= d.kill_at) {
        d.child->kill();
      }
    } else if (now >= d.start_at && now < round_end) {
      if (d.kind == DaemonKind::kServe) {
        d.child = spawn({"--log-level", "debug", "--set", "api.cleanupInterval=10", "serve"});
      } else {
        // Paced unevenly, so that admissions spread over the window's sub-windows rather
        // than all coming the moment a full sub-window slides out.
        d.child = spawn({"sibling:admit-loop", std::to_string(ms(0, 60).count())},
                        keys_.at(hammered_id_).secret + "\n");
      }
      d.kill_at = now + ms(20, 1'500);
    }
  }

  void finish(Daemon& d, Clock::time_point now) {
    CapturingChild& c = *d.child;
    c.finish(milliseconds(10'000));
    const bool killed = c.termSignal() == SIGKILL;
    if (d.kind == DaemonKind::kServe) {
      BOOST_TEST(killed, "serve ended by itself: exit " << c.exitCode() << "\n" << c.err());
      totals_.serve_killed += killed ? 1 : 0;
      for (size_t at = c.err().find("cleanup ran"); at != std::string::npos;
           at = c.err().find("cleanup ran", at + 1)) {
        ++totals_.cleanups_ran;
      }
      BOOST_TEST(!contains(c.err(), "cleanup failed"), c.err());
    } else {
      BOOST_TEST(killed, "admit loop ended by itself: exit " << c.exitCode() << "\nstdout:\n"
                                                             << c.out() << "\nstderr:\n"
                                                             << c.err());
      totals_.admit_loops_killed += killed ? 1 : 0;
      std::istringstream lines(c.out());
      std::string line;
      while (std::getline(lines, line) && !lines.eof()) {  // complete lines only
        std::istringstream fields(line);
        std::string word;
        Admission a{};
        if (fields >> word >> a.before_ms >> a.after_ms && word == "admitted") {
          admissions_.push_back(a);
        } else {
          BOOST_TEST(false, "admit loop printed \"" << line << "\"\n" << c.err());
        }
      }
    }
    d.child.reset();
    d.start_at = now + ms(0, 100);
  }

  void tick(CliLane& lane, Clock::time_point now) {
    if (!lane.command) {
      if (now >= lane.idle_until) {
        lane.command = startCommand(now);
      }
      return;
    }
    CliCommand& c = *lane.command;
    c.child->poll();
    if (!c.child->running()) {
      finish(c);
      lane.command.reset();
      lane.idle_until = now + ms(0, 10);  // a lighter load: fewer keys to check after a round
    } else if (c.kill_at && now >= *c.kill_at) {
      c.child->kill();
    } else if (now - c.started > std::chrono::seconds(20)) {
      BOOST_TEST(false, "a CLI command hung for 20 s; killing it");
      c.child->kill();
    }
  }

  CliCommand startCommand(Clock::time_point now) {
    std::vector<std::string> free;
    for (const auto& [id, key] : keys_) {
      if (key.state == KeyState::kActive && !key.busy && id != hammered_id_) {
        free.push_back(id);
      }
    }
    CliCommand c;
    c.started = now;
    const double pick = std::uniform_real_distribution<double>(0, 1)(rng_);
    if (free.empty() || pick < 0.5) {
      c.kind = CliKind::kCreate;
      c.child = spawn({"api:keys:create", "--name", "n", "--user", "u", "--format", "json"});
    } else {
      c.kind = pick < 0.75 ? CliKind::kRevoke : CliKind::kRotate;
      c.key_id = free[std::uniform_int_distribution<size_t>(0, free.size() - 1)(rng_)];
      keys_[c.key_id].busy = true;
      c.child = c.kind == CliKind::kRevoke
                    ? spawn({"api:keys:revoke", c.key_id, "--force"})
                    : spawn({"api:keys:rotate", c.key_id, "--force", "--format", "json"});
    }
    if (chance(0.4)) {
      // Anywhere from start-up to just past the usual end, where its commit and its output are.
      const double typical_ms = typical_ms_[static_cast<size_t>(c.kind)];
      c.kill_at = now + milliseconds(static_cast<std::int64_t>(
                            std::uniform_real_distribution<double>(0.5, 1.15)(rng_) * typical_ms));
    }
    return c;
  }

  void finish(CliCommand& c) {
    CapturingChild& child = *c.child;
    child.finish(milliseconds(10'000));
    const bool killed = child.termSignal() == SIGKILL;
    totals_.cli_killed += killed ? 1 : 0;
    if (!killed) {
      const double took_ms =
          std::chrono::duration<double, std::milli>(Clock::now() - c.started).count();
      double& typical_ms = typical_ms_[static_cast<size_t>(c.kind)];
      typical_ms = 0.9 * typical_ms + 0.1 * took_ms;
    }
    const std::string what = "exit " + std::to_string(child.exitCode()) + " signal " +
                             std::to_string(child.termSignal()) + "\nstdout:\n" + child.out() +
                             "\nstderr:\n" + child.err();
    if (c.kind == CliKind::kCreate) {
      const auto doc = completeJsonLine(child.out());
      BOOST_TEST((killed || (child.exitCode() == 0 && doc)), "create: " << what);
      if (doc) {
        const std::string id(doc->at("key").as_object().at("id").as_string());
        keys_[id] = {
            std::string(doc->at("secret").as_string()), KeyState::kActive, false, true,
            killed ? "its create printed the secret, then was killed" : "its create exited 0"};
        ++totals_.creates_delivered;
        totals_.reported_then_killed += killed ? 1 : 0;
      }
      return;
    }
    TrackedKey& key = keys_[c.key_id];
    key.busy = false;
    key.changed = true;
    if (c.kind == CliKind::kRevoke) {
      BOOST_TEST((killed || child.exitCode() == 0), "revoke " << c.key_id << ": " << what);
      const bool reported =
          contains(child.out(), "Revoked key " + c.key_id + " ") && child.out().back() == '\n';
      if (!killed && child.exitCode() == 0) {
        key.state = KeyState::kRevoked;
        key.learned = "its revoke exited 0";
        ++totals_.revokes_confirmed;
      } else if (reported) {
        key.state = KeyState::kRevoked;
        key.learned = "its revoke printed that it revoked it, then was killed";
        ++totals_.reported_then_killed;
      } else {
        key.state = KeyState::kMaybeRevoked;
        key.learned = "its revoke was killed";
      }
      return;
    }
    const auto doc = completeJsonLine(child.out());
    BOOST_TEST((killed || (child.exitCode() == 0 && doc)), "rotate " << c.key_id << ": " << what);
    if (!doc) {
      key.state = KeyState::kMaybeRevoked;
      key.learned = "its rotate was killed before it printed";
      return;
    }
    BOOST_TEST(std::string(doc->at("replaced_key_id").as_string()) == c.key_id, what);
    key.state = KeyState::kRevoked;  // no grace: the rotation revoked it at once
    key.learned = "its rotate printed the new key";
    totals_.reported_then_killed += killed ? 1 : 0;
    const std::string id(doc->at("key").as_object().at("id").as_string());
    keys_[id] = {std::string(doc->at("secret").as_string()), KeyState::kActive, false, true,
                 "a rotate printed it"};
    ++totals_.rotates_delivered;
  }

  void checkListed(const std::string& id, const TrackedKey& key,
                   const std::map<std::string, std::string>& listed) const {
    const auto it = listed.find(id);
    BOOST_TEST_REQUIRE((it != listed.end()), id << " (" << stateName(key.state) << ": "
                                                << key.learned << ") is not listed");
    const std::string& status = it->second;
    switch (key.state) {
      case KeyState::kActive:
        BOOST_TEST(status == "active", id << " is listed " << status << ", but " << key.learned);
        break;
      case KeyState::kRevoked:
        BOOST_TEST(status == "revoked", id << " is listed " << status << ", but " << key.learned);
        break;
      case KeyState::kMaybeRevoked:
        BOOST_TEST((status == "active" || status == "revoked"), id << " is listed " << status);
        break;
    }
  }

  void checkVerified(const std::string& id, TrackedKey& key) {
    const ProcessResult r = prompt({"api:keys:verify", "--format", "json"}, key.secret + "\n");
    ++totals_.keys_verified;
    const auto doc = completeJsonLine(r.out);
    BOOST_TEST_REQUIRE(doc.has_value(), "verify " << id << ": " << describe(r));
    const bool valid = doc->at("valid").as_bool();
    const json::value& reason = doc->at("reason");
    const bool revoked = reason.is_string() && reason.as_string() == "revoked";
    BOOST_TEST(r.exit_code == (valid ? 0 : 1), describe(r));
    if (doc->at("key").is_object()) {
      BOOST_TEST(std::string(doc->at("key").at("id").as_string()) == id, describe(r));
    }
    switch (key.state) {
      case KeyState::kActive:
        BOOST_TEST(valid, id << " does not validate, but " << key.learned << ": " << describe(r));
        break;
      case KeyState::kRevoked:
        BOOST_TEST(revoked, id << " is not revoked, but " << key.learned << ": " << describe(r));
        break;
      case KeyState::kMaybeRevoked:
        // Nothing can change it any more: what verify says now is what it is.
        BOOST_TEST((valid || revoked), id << ": " << describe(r));
        key.state = valid ? KeyState::kActive : KeyState::kRevoked;
        key.learned += valid ? ", before it revoked it" : ", after it revoked it";
        ++(valid ? totals_.maybe_resolved_active : totals_.maybe_resolved_revoked);
        break;
    }
  }

  std::int64_t uncertainAdmissions() const {
    return std::count_if(admissions_.begin(), admissions_.end(), [](const Admission& a) {
      return a.before_ms / kSubWindowMs != a.after_ms / kSubWindowMs;
    });
  }

  std::mt19937_64 rng_;
  Installation install_{{"sibling"}};
  ProcessOptions env_;
  std::string hammered_id_;
  std::map<std::string, TrackedKey> keys_;
  std::vector<Daemon> daemons_;
  std::vector<Admission> admissions_;  // of every round, on the hammered key
  std::int64_t most_in_a_run_ = 0;
  std::int64_t unreported_keys_ = 0;
  std::array<double, 3> typical_ms_{20, 20, 20};  // how long each CliKind takes, smoothed
  Totals totals_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(crash_safety)

BOOST_AUTO_TEST_CASE(window_check_counts_what_certainly_fell_in_a_run) {
  // Sub-windows of 100 ms, runs of 10 of them.
  std::vector<Admission> a{{0, 0}, {950, 950}};
  BOOST_TEST(busiestRun(a, 100, 10).count == 2);
  a.push_back({1'000, 1'000});  // sub-window 10: shares no run with 0
  BOOST_TEST(busiestRun(a, 100, 10).count == 2);
  a.push_back({999, 1'001});  // sub-window 9 or 10: certainly in the runs from 1 to 9
  const BusiestRun three = busiestRun(a, 100, 10);
  BOOST_TEST(three.count == 3);
  BOOST_TEST(three.first_sub_window == 1);
  a.push_back({0, 1'000});  // 0..10 spans 11 sub-windows: in no run for certain
  BOOST_TEST(busiestRun(a, 100, 10).count == 3);
  std::vector<Admission> full(21, Admission{12'345, 12'345});
  BOOST_TEST(busiestRun(full, 100, 10).count == 21);
  BOOST_TEST(busiestRun({}, 100, 10).count == 0);
}

BOOST_AUTO_TEST_CASE(processes_killed_at_random_leave_a_store_that_keeps_its_promises,
                     *boost::unit_test::timeout(150)) {
  const std::uint64_t seed = crashSeed();
  BOOST_TEST_MESSAGE("crash_safety seed " << seed << " (CRASH_SEED=" << seed << " replays it)");
  BOOST_TEST_CONTEXT("CRASH_SEED=" << seed) {
    CrashRun run(seed);
    for (int round = 0; round < kRounds; ++round) {
      BOOST_TEST_CONTEXT("round " << round) {
        run.round(round);
        run.checkStore();
      }
    }
    run.checkCoverage();
  }
}

BOOST_AUTO_TEST_SUITE_END()
