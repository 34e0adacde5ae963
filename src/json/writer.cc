#include "json/writer.h"

#include <charconv>
#include <utility>

#include "core/status.h"
#include "json/value.h"

namespace payoutd::json {
namespace {

constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD
constexpr char kHexDigits[] = "0123456789abcdef";

// Length of the valid UTF-8 sequence starting at text[at] (whose first byte is >= 0x80), or 0 when
// the bytes there are not a valid sequence (overlong, surrogate, beyond U+10FFFF, truncated).
size_t valid_utf8_sequence_length(std::string_view text, size_t at) {
  const auto byte = [&](size_t offset) { return static_cast<unsigned char>(text[at + offset]); };
  const auto continuation = [&](size_t offset) {
    return at + offset < text.size() && (byte(offset) & 0xC0) == 0x80;
  };
  const unsigned char lead = byte(0);
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (lead == 0xE0 && byte(1) < 0xA0) return 0;  // overlong
    if (lead == 0xED && byte(1) > 0x9F) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (lead == 0xF0 && byte(1) < 0x90) return 0;  // overlong
    if (lead == 0xF4 && byte(1) > 0x8F) return 0;  // beyond U+10FFFF
    return 4;
  }
  return 0;  // continuation byte, 0xC0/0xC1, 0xF5..0xFF
}

}  // namespace

void append_escaped(std::string_view text, std::string* out) {
  size_t run_start = 0;  // start of the pending run of bytes that need no escaping
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const size_t length = valid_utf8_sequence_length(text, i);
      if (length > 0) {
        i += length;
        continue;
      }
    }
    out->append(text.data() + run_start, i - run_start);
    if (c == '"') {
      out->append("\\\"");
    } else if (c == '\\') {
      out->append("\\\\");
    } else if (c < 0x20) {
      const char escaped[6] = {'\\', 'u', '0', '0', kHexDigits[c >> 4], kHexDigits[c & 0x0F]};
      out->append(escaped, sizeof escaped);
    } else {
      out->append(kReplacementCharacter);
    }
    ++i;
    run_start = i;
  }
  out->append(text.data() + run_start, text.size() - run_start);
}

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  append_escaped(text, &out);
  return out;
}

Writer::Writer(std::string buffer) : out_(std::move(buffer)) {}

void Writer::before_value() {
  if (depth_ == 0) {
    PAYOUTD_ASSERT(!root_written_);  // one root value per writer
    root_written_ = true;
    return;
  }
  const uint64_t bit = uint64_t{1} << (depth_ - 1);
  if ((in_object_mask_ & bit) != 0) {
    PAYOUTD_ASSERT(after_key_);  // object values need a key first
    after_key_ = false;
    return;
  }
  if ((has_element_mask_ & bit) != 0) out_.push_back(',');
  has_element_mask_ |= bit;
}

void Writer::key(std::string_view name) {
  PAYOUTD_ASSERT(depth_ > 0);
  const uint64_t bit = uint64_t{1} << (depth_ - 1);
  PAYOUTD_ASSERT((in_object_mask_ & bit) != 0 && !after_key_);
  if ((has_element_mask_ & bit) != 0) out_.push_back(',');
  has_element_mask_ |= bit;
  out_.push_back('"');
  append_escaped(name, &out_);
  out_.append("\":");
  after_key_ = true;
}

void Writer::begin_object() {
  before_value();
  PAYOUTD_ASSERT(depth_ < kMaxDepth);
  const uint64_t bit = uint64_t{1} << depth_;
  in_object_mask_ |= bit;
  has_element_mask_ &= ~bit;
  ++depth_;
  out_.push_back('{');
}

void Writer::end_object() {
  PAYOUTD_ASSERT(depth_ > 0);
  const uint64_t bit = uint64_t{1} << (depth_ - 1);
  PAYOUTD_ASSERT((in_object_mask_ & bit) != 0 && !after_key_);
  in_object_mask_ &= ~bit;
  --depth_;
  out_.push_back('}');
}

void Writer::begin_array() {
  before_value();
  PAYOUTD_ASSERT(depth_ < kMaxDepth);
  const uint64_t bit = uint64_t{1} << depth_;
  in_object_mask_ &= ~bit;
  has_element_mask_ &= ~bit;
  ++depth_;
  out_.push_back('[');
}

void Writer::end_array() {
  PAYOUTD_ASSERT(depth_ > 0);
  const uint64_t bit = uint64_t{1} << (depth_ - 1);
  PAYOUTD_ASSERT((in_object_mask_ & bit) == 0);
  --depth_;
  out_.push_back(']');
}

void Writer::string(std::string_view value) {
  before_value();
  out_.push_back('"');
  append_escaped(value, &out_);
  out_.push_back('"');
}

void Writer::raw_number(std::string_view text) {
  PAYOUTD_ASSERT(is_json_number(text));
  before_value();
  out_.append(text);
}

void Writer::integer(int64_t value) {
  before_value();
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, value);
  out_.append(digits, static_cast<size_t>(result.ptr - digits));
}

void Writer::boolean(bool value) {
  before_value();
  out_.append(value ? "true" : "false");
}

void Writer::null() {
  before_value();
  out_.append("null");
}

void Writer::string_or_null(const std::optional<std::string>& value) {
  if (value.has_value()) {
    string(*value);
  } else {
    null();
  }
}

std::string Writer::take() {
  std::string result = std::move(out_);
  out_.clear();
  depth_ = 0;
  in_object_mask_ = 0;
  has_element_mask_ = 0;
  after_key_ = false;
  root_written_ = false;
  return result;
}

}  // namespace payoutd::json
