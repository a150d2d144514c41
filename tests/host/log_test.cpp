#include "log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>

#include "process.hpp"
#include "text.hpp"

namespace {

// What Log::write puts on stderr for one record, without its timestamp.
std::string logged(std::string_view source, std::string_view message,
                   const host::Log::Fields& fields) {
  testing_support::TempDir dir;
  const std::string path = dir.path() + "/stderr";
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::dup2(file, STDERR_FILENO);
  ::close(file);
  host::Log log(SP_LOG_TRACE);
  log.write(SP_LOG_INFO, source, message, fields);
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  const std::string line = testing_support::readFile(path);
  const auto space = line.find(' ');
  return space == std::string::npos ? line : line.substr(space + 1);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(log_and_text)

BOOST_AUTO_TEST_CASE(escapes_every_control_and_invalid_byte_and_keeps_other_text) {
  BOOST_TEST(host::escapeControls("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x94\x91") ==
             "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x94\x91");
  BOOST_TEST(host::escapeControls("a\nb\rc\td") == "a\\nb\\rc\\td");
  BOOST_TEST(host::escapeControls(std::string("\x00\x1b[2J\x07\x7f", 7)) ==
             "\\x00\\x1B[2J\\x07\\x7F");
  BOOST_TEST(host::escapeControls("\xc2\x9b"
                                  "31m") == "\\u{009B}31m");  // C1 CSI
  BOOST_TEST(host::escapeControls("\xe2\x80\xae"
                                  "txt") == "\\u{202E}txt");  // RLO
  BOOST_TEST(host::escapeControls("\xe2\x81\xa6\xd8\x9c") == "\\u{2066}\\u{061C}");
  BOOST_TEST(host::escapeControls("\xff\xc3(\xed\xa0\x80") == "\\xFF\\xC3(\\xED\\xA0\\x80");
  BOOST_TEST(host::escapeControls("back\\slash") == "back\\\\slash");
  BOOST_TEST(host::quotedText("say \"hi\"\n") == "\"say \\\"hi\\\"\\n\"");
}

BOOST_AUTO_TEST_CASE(a_record_is_one_line_whatever_the_module_logs) {
  BOOST_TEST(logged("api", "key created", {{"id", "key_1"}, {"name", "a b"}}) ==
             "INFO  api: key created id=key_1 name=\"a b\"\n");
  const std::string forged =
      logged("api\x1b[2J", "done\n2026-01-01T00:00:00.000Z ERROR host: forged",
             {{"k\n", "v\x1b]0;title\x07"}, {"e", ""}, {"bidi", "\xe2\x80\xae"}});
  BOOST_TEST(forged ==
                 "INFO  api\\x1B[2J: done\\n2026-01-01T00:00:00.000Z ERROR host: forged "
                 "k\\n=\"v\\x1B]0;title\\x07\" e=\"\" bidi=\"\\u{202E}\"\n",
             forged);
  BOOST_TEST(logged("m", "x", {{"c1", "\xc2\x85"}, {"bad", "\xfe"}}) ==
             "INFO  m: x c1=\"\\u{0085}\" bad=\"\\xFE\"\n");
}

BOOST_AUTO_TEST_SUITE_END()
