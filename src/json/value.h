// Exact JSON reading: a small immutable DOM built with simdjson's On-Demand API.
//
// Numbers are kept as their exact source text ("100.10", "1e2", "1e400") and never pass through a
// binary float: money is parsed from that text by core/money.h. Strings are unescaped UTF-8.
// parse() is strict RFC 8259 plus payoutd's own rules (see parse()); it never throws.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace payoutd::json {

enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

std::string_view type_name(Type type);  // "null", "boolean", "number", "string", "array", "object"

class Value {
 public:
  using Member = std::pair<std::string, Value>;

  Value() = default;  // null
  static Value null() { return Value(); }
  static Value boolean(bool value);
  // REQUIRES: is_json_number(text)
  static Value number(std::string text);
  static Value string(std::string text);
  static Value array(std::vector<Value> items);
  // REQUIRES: no two members share a key (parse() guarantees it).
  static Value object(std::vector<Member> members);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // The accessors below abort (PAYOUTD_ASSERT) when called on the wrong type: check type() first.
  // REQUIRES: is_bool()
  bool as_bool() const;
  // The raw JSON number token exactly as written, e.g. "100.10", "-0", "1e400".
  // REQUIRES: is_number()
  const std::string& number_text() const;
  // REQUIRES: is_string()
  const std::string& as_string() const;
  // REQUIRES: is_array()
  const std::vector<Value>& items() const;
  // In source order. REQUIRES: is_object()
  const std::vector<Member>& members() const;

  // The member named `key`, or nullptr when absent or when this is not an object. Linear: objects
  // are small (ParseLimits::max_members bounds them).
  const Value* find(std::string_view key) const;

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  std::string text_;  // number token or unescaped string
  std::vector<Value> items_;
  std::vector<Member> members_;
};

struct ParseLimits {
  size_t max_bytes = 65536;         // whole input
  int max_depth = 32;               // nested arrays/objects; the root container is depth 1
  size_t max_members = 1024;        // members of each object and items of each array
  size_t max_string_bytes = 65536;  // each string and each key, after unescaping
};

// Parses one JSON value (normally the request body). Besides RFC 8259 syntax it rejects:
//  - empty or whitespace-only input, and anything but whitespace after the root value;
//  - invalid UTF-8 anywhere in the input, and escapes that decode to invalid UTF-8 (a lone
//    surrogate such as "\uD800");
//  - strings or keys containing U+0000, raw or escaped ("\u0000"): no field of ours may hold a NUL,
//    and C APIs downstream (SQLite text, logs) would silently truncate there;
//  - duplicate keys in any object (compared after unescaping): which one wins is ambiguous across
//    parsers, so a signed body could mean different things to different readers;
//  - anything beyond `limits`.
// Every failure is Status::invalid_argument("body", "<precise reason>").
// REQUIRES: limits.max_depth is small (it bounds this function's recursion on the C++ stack).
Result<Value> parse(std::string_view text, const ParseLimits& limits = {});

// True when `text` is exactly one JSON number token (RFC 8259 grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?). Rejects "01", "1.", "-", "+1", ".5", "NaN".
bool is_json_number(std::string_view text);

}  // namespace payoutd::json
