// Text rules shared by every room: ASCII classes and case folding (locale-free: <cctype> depends on
// the C locale and on the sign of char), and the control-character checks the dialects apply to
// every free-text field. Pure; no allocation.
#pragma once

#include <cstddef>
#include <string_view>

namespace payoutd {

constexpr bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Equal after folding ASCII A-Z to a-z; other bytes compare exactly (HTTP header names, SQL
// keywords, hex digits).
constexpr bool equals_ignoring_ascii_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// True when `text` holds a C0 control (U+0000..U+001F) or DEL (U+007F): bytes that are the same
// in any ASCII-compatible encoding.
bool has_ascii_control(std::string_view text);

// True when valid UTF-8 `text` holds a C0 control, DEL, or a C1 control (U+0080..U+009F, encoded
// C2 80..C2 9F).
bool has_control_characters(std::string_view text);

// Unicode code points in valid UTF-8 `text` (its bytes that are not continuation bytes).
size_t count_characters(std::string_view text);

}  // namespace payoutd
