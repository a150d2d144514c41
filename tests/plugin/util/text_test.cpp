#include "util/text.hpp"

#include <boost/test/unit_test.hpp>
#include <string>

BOOST_AUTO_TEST_SUITE(text)

BOOST_AUTO_TEST_CASE(printable_length_counts_characters_of_strict_utf8) {
  BOOST_TEST(api::printableLength("abc").value_or(99) == 3u);
  BOOST_TEST(api::printableLength("Caf\xc3\xa9").value_or(99) == 4u);               // é
  BOOST_TEST(api::printableLength("\xe6\x9d\xb1\xe4\xba\xac").value_or(99) == 2u);  // 東京
  BOOST_TEST(api::printableLength("\xf0\x9f\x94\x91").value_or(99) == 1u);          // a 4-byte one
  BOOST_TEST(api::printableLength("").value_or(99) == 0u);
}

BOOST_AUTO_TEST_CASE(printable_length_refuses_bad_utf8_controls_and_bidi) {
  BOOST_TEST(!api::printableLength("\xc0\xaf").has_value());          // overlong '/'
  BOOST_TEST(!api::printableLength("\xed\xa0\x80").has_value());      // a surrogate
  BOOST_TEST(!api::printableLength("\xf4\x90\x80\x80").has_value());  // past U+10FFFF
  BOOST_TEST(!api::printableLength("\xe6\x9d").has_value());          // cut short
  BOOST_TEST(!api::printableLength("a\nb").has_value());
  BOOST_TEST(!api::printableLength("a\x1b[31mb").has_value());
  BOOST_TEST(!api::printableLength("a\x7f").has_value());
  BOOST_TEST(!api::printableLength("\xc2\x85").has_value());      // C1 NEL
  BOOST_TEST(!api::printableLength("\xe2\x80\xae").has_value());  // U+202E RLO
  BOOST_TEST(!api::printableLength("\xe2\x81\xa6").has_value());  // U+2066 LRI
  BOOST_TEST(!api::printableLength(std::string("a\0b", 3)).has_value());
}

BOOST_AUTO_TEST_CASE(blank_means_only_spaces_and_not_empty) {
  BOOST_TEST(api::isBlank("   "));
  BOOST_TEST(!api::isBlank(""));
  BOOST_TEST(!api::isBlank(" a "));
}

BOOST_AUTO_TEST_CASE(printable_truncated_replaces_what_is_refused_and_cuts_at_a_boundary) {
  BOOST_TEST(api::printableTruncated("a\nb", 10) == "a?b");
  // One '?' per byte of a refused character (here U+202E, three bytes).
  BOOST_TEST(api::printableTruncated("\xe2\x80\xaex", 10) == "???x");
  BOOST_TEST(api::printableTruncated("abcdef", 3) == "abc");
  // 東 is three bytes: a cut inside it drops it whole.
  BOOST_TEST(api::printableTruncated("a\xe6\x9d\xb1", 3) == "a");
  BOOST_TEST(api::printableTruncated("a\xe6\x9d\xb1", 4) == "a\xe6\x9d\xb1");
}

BOOST_AUTO_TEST_CASE(display_width_counts_terminal_columns) {
  // 東京 API キー: four wide characters (2 each), five narrow ones.
  BOOST_TEST(api::displayWidth("\xe6\x9d\xb1\xe4\xba\xac API \xe3\x82\xad\xe3\x83\xbc") == 13u);
  BOOST_TEST(api::displayWidth("Caf\xc3\xa9") == 4u);       // é precomposed
  BOOST_TEST(api::displayWidth("Cafe\xcc\x81") == 4u);      // e + combining acute: 0 for the accent
  BOOST_TEST(api::displayWidth("\xef\xbc\xa1") == 2u);      // fullwidth A
  BOOST_TEST(api::displayWidth("\xf0\x9f\x94\x91") == 2u);  // an emoji
  BOOST_TEST(api::displayWidth("a\xe2\x80\x8b") == 1u);     // zero width space
  BOOST_TEST(api::displayWidth("a\xff"
                               "b") == 3u);  // a bad byte shows as one '?'
  BOOST_TEST(api::displayWidth("") == 0u);
}

BOOST_AUTO_TEST_CASE(prefix_fitting_keeps_whole_characters_and_their_accents) {
  const std::string tokyo = "\xe6\x9d\xb1\xe4\xba\xac";  // 東京, 4 columns
  BOOST_TEST(api::prefixFitting(tokyo, 4) == 6u);
  BOOST_TEST(api::prefixFitting(tokyo, 3) == 3u);  // half of 京 does not fit
  BOOST_TEST(api::prefixFitting(tokyo, 1) == 0u);
  BOOST_TEST(api::prefixFitting("Cafe\xcc\x81s", 4) == 6u);  // the accent stays with its e
  BOOST_TEST(api::prefixFitting("abc", 10) == 3u);
}

BOOST_AUTO_TEST_CASE(cut_to_width_ends_in_the_ellipsis_and_never_splits_a_character) {
  const std::string ellipsis = "\xe2\x80\xa6";  // …, 1 column
  const std::string tokyo = "\xe6\x9d\xb1\xe4\xba\xac API \xe3\x82\xad\xe3\x83\xbc";  // 13 columns
  BOOST_TEST(api::cutToWidth(tokyo, 13, ellipsis) == tokyo);                          // fits: whole
  // 3 columns: 東 (2) and the ellipsis; 4 columns: 京 would need 2 of the 3 left, so one
  // column stays empty rather than half a character shown.
  BOOST_TEST(api::cutToWidth(tokyo, 3, ellipsis) == "\xe6\x9d\xb1" + ellipsis);
  BOOST_TEST(api::cutToWidth(tokyo, 4, ellipsis) == "\xe6\x9d\xb1" + ellipsis);
  BOOST_TEST(api::displayWidth(api::cutToWidth(tokyo, 4, ellipsis)) == 3u);
  // The space before API is dropped before the ellipsis.
  BOOST_TEST(api::cutToWidth(tokyo, 6, ellipsis) == "\xe6\x9d\xb1\xe4\xba\xac" + ellipsis);
  // A combining accent stays with its letter; "..." takes 3 columns.
  BOOST_TEST(api::cutToWidth("Cafe\xcc\x81 au lait", 7, "...") == "Cafe\xcc\x81...");
  BOOST_TEST(api::cutToWidth("abcdef", 5, "...") == "ab...");
  BOOST_TEST(api::cutToWidth("abcdef", 3, "...") == "abc");  // no room for the ellipsis
  BOOST_TEST(api::cutToWidth("abcdef", 0, "...") == "");
}

BOOST_AUTO_TEST_SUITE_END()
