// A fast, allocation-frugal JSON writer that appends to one std::string.
//
// Commas and colons are placed automatically; misuse (a value in an object without a key, a key in
// an array, unbalanced end_*) is a programming error and aborts (PAYOUTD_ASSERT).
//
//   Writer writer;
//   writer.begin_object();
//   writer.key("code");
//   writer.integer(509);
//   writer.key("message");
//   writer.string("Cashout not found with this ID");
//   writer.end_object();
//   std::string body = writer.take();   // {"code":509,"message":"Cashout not found with this ID"}
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace payoutd::json {

// `text` as the contents of a JSON string literal (without the surrounding quotes): `"` and `\`
// are backslash-escaped, bytes below 0x20 become \u00XX, valid UTF-8 passes through unchanged, and
// each byte of an invalid UTF-8 sequence becomes U+FFFD so the output is always valid JSON.
std::string escape(std::string_view text);
// Same, appended to `*out`.
void append_escaped(std::string_view text, std::string* out);

class Writer {
 public:
  // Deepest nesting a Writer supports (responses are shallow; exceeding it is a bug).
  static constexpr int kMaxDepth = 64;

  // Appends after whatever `buffer` already holds; pass a reserved or reused buffer to avoid
  // allocations.
  explicit Writer(std::string buffer = {});

  void reserve(size_t bytes) { out_.reserve(bytes); }

  void begin_object();
  void end_object();
  void begin_array();
  void end_array();
  // REQUIRES: inside an object, and the previous key has its value.
  void key(std::string_view name);

  void string(std::string_view value);
  // `text` is written verbatim: exact money text from format_amount ("100.10"), never a float.
  // REQUIRES: is_json_number(text)
  void raw_number(std::string_view text);
  void integer(int64_t value);
  void boolean(bool value);
  void null();
  void string_or_null(const std::optional<std::string>& value);

  // True once exactly one complete root value has been written.
  bool complete() const { return depth_ == 0 && root_written_; }
  const std::string& output() const { return out_; }
  // The output; the writer is empty and reusable afterwards.
  std::string take();

 private:
  // Writes the comma before a value or key when one is needed and checks the value is allowed here.
  void before_value();

  std::string out_;
  int depth_ = 0;
  uint64_t in_object_mask_ = 0;      // bit d: the container at depth d+1 is an object
  uint64_t has_element_mask_ = 0;    // bit d: the container at depth d+1 already has an element
  bool after_key_ = false;           // a key was written and awaits its value
  bool root_written_ = false;
};

}  // namespace payoutd::json
