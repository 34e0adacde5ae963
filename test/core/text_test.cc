#include "core/text.h"

#include <gtest/gtest.h>

#include <string>

namespace payoutd {
namespace {

TEST(TextTest, AsciiClassesAreLocaleFreeAndRejectEveryOtherByte) {
  int digits = 0;
  int alphas = 0;
  for (int byte = 0; byte < 256; ++byte) {
    const char c = static_cast<char>(byte);
    if (is_ascii_digit(c)) ++digits;
    if (is_ascii_alpha(c)) ++alphas;
    EXPECT_EQ(ascii_lower(c), byte >= 'A' && byte <= 'Z' ? static_cast<char>(byte + 32) : c);
  }
  EXPECT_EQ(digits, 10);
  EXPECT_EQ(alphas, 52);
  EXPECT_FALSE(is_ascii_digit(static_cast<char>(0xB2)));  // '²' in Latin-1, a digit to isdigit()
}

TEST(TextTest, EqualsIgnoringAsciiCase) {
  EXPECT_TRUE(equals_ignoring_ascii_case("Content-Length", "content-length"));
  EXPECT_TRUE(equals_ignoring_ascii_case("", ""));
  EXPECT_FALSE(equals_ignoring_ascii_case("abc", "abcd"));
  EXPECT_FALSE(equals_ignoring_ascii_case("a-b", "a_b"));
  EXPECT_FALSE(equals_ignoring_ascii_case("\xC3\x89", "\xC3\xA9"));  // É / é: not ASCII, exact
}

TEST(TextTest, ControlCharacters) {
  EXPECT_FALSE(has_ascii_control("Rua Augusta 1000, S\xC3\xA3o Paulo"));
  EXPECT_TRUE(has_ascii_control(std::string("a\0b", 3)));
  EXPECT_TRUE(has_ascii_control("a\tb"));
  EXPECT_TRUE(has_ascii_control("a\x7f"));
  EXPECT_FALSE(has_ascii_control("a\xC2\x85"));  // C1 is not ASCII
  EXPECT_TRUE(has_control_characters("a\xC2\x85"));  // U+0085 NEXT LINE
  EXPECT_TRUE(has_control_characters("\xC2\x80"));
  EXPECT_TRUE(has_control_characters("\xC2\x9F"));
  EXPECT_FALSE(has_control_characters("\xC2\xA0"));  // NO-BREAK SPACE is not a control
  EXPECT_FALSE(has_control_characters("\xC2"));      // a lone lead byte at the end
  EXPECT_EQ(count_characters("Jos\xC3\xA9"), 4u);
  EXPECT_EQ(count_characters("\xF0\x9F\x98\x80"), 1u);
}

}  // namespace
}  // namespace payoutd
