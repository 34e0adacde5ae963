#include "json/value.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace payoutd::json {
namespace {

namespace ondemand = simdjson::ondemand;

constexpr const char* kField = "body";
// Objects up to this size are checked for duplicate keys pairwise; larger ones by sorting.
constexpr size_t kPairwiseDuplicateCheckMax = 16;
// Keys and tokens echoed in error messages are cut to this many bytes (at a UTF-8 boundary).
constexpr size_t kMaxEchoedBytes = 64;
// A thread's parse buffer above this size is released after use instead of being kept for reuse.
constexpr size_t kMaxRetainedBufferBytes = 1 << 20;

bool is_json_whitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim_trailing_whitespace(std::string_view text) {
  while (!text.empty() && is_json_whitespace(text.back())) text.remove_suffix(1);
  return text;
}

std::string_view trim_whitespace(std::string_view text) {
  while (!text.empty() && is_json_whitespace(text.front())) text.remove_prefix(1);
  return trim_trailing_whitespace(text);
}

// simdjson's broad "bad structure" codes; parse() replaces this with describe_syntax_error().
constexpr const char* kStructuralError = "unexpected token (missing or extra comma, colon, quote, bracket or brace?)";

Status fail(std::string reason) { return Status::invalid_argument(kField, "invalid JSON: " + reason); }

Status fail(simdjson::error_code error) {
  switch (error) {
    case simdjson::UTF8_ERROR:
      return fail("invalid UTF-8");
    case simdjson::UNESCAPED_CHARS:
      return fail("unescaped control character in a string");
    case simdjson::UNCLOSED_STRING:
      return fail("unterminated string");
    case simdjson::STRING_ERROR:  // includes lone surrogates ("\uD800", "\uDC00")
      return fail("invalid escape sequence in a string");
    case simdjson::NUMBER_ERROR:
      return fail("invalid number");
    case simdjson::EMPTY:
      return fail("empty body");
    case simdjson::DEPTH_ERROR:
      return fail("nested too deeply");
    case simdjson::CAPACITY:
      return fail("body too large");
    case simdjson::TAPE_ERROR:
    case simdjson::INCORRECT_TYPE:
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
    case simdjson::TRAILING_CONTENT:
    case simdjson::T_ATOM_ERROR:
    case simdjson::F_ATOM_ERROR:
    case simdjson::N_ATOM_ERROR:
      return fail(kStructuralError);
    default:
      return fail(simdjson::error_message(error));
  }
}

bool is_structural_failure(const Status& status) {
  static const std::string kMessage = fail(kStructuralError).message();
  return status.message() == kMessage;
}

// simdjson 3.0.1's ondemand::document has no at_end(): current_location() reports OUT_OF_BOUNDS
// exactly when every structural character has been consumed, else points at the next one.
Status check_at_end(ondemand::document& document, const char* buffer) {
  const char* location = nullptr;
  const simdjson::error_code error = document.current_location().get(location);
  if (error == simdjson::OUT_OF_BOUNDS) return Status::ok();
  if (error != simdjson::SUCCESS || location == nullptr) return fail(kStructuralError);
  return fail("unexpected content after the JSON value at byte " + std::to_string(location - buffer));
}

// `text` (a key or a bad token), cut to kMaxEchoedBytes without splitting a UTF-8 sequence.
std::string echo(std::string_view text) {
  if (text.size() <= kMaxEchoedBytes) return std::string(text);
  size_t end = kMaxEchoedBytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end)) + "...";
}

Status invalid_number(std::string_view token) { return fail("invalid number '" + echo(token) + "'"); }

// simdjson reports structural mistakes with a few broad codes (TAPE_ERROR, INCORRECT_TYPE). On that
// error path only, this linear scan of the input finds the first syntax error and names it with its
// byte offset. nullopt when it finds none (then the broad message stands). Iterative: no recursion,
// its stack is bounded by the input size, which parse() bounded already.
std::optional<std::string> describe_syntax_error(std::string_view text) {
  enum class Expect { kValue, kValueOrClose, kKey, kKeyOrClose, kColon, kCommaOrClose, kEnd };
  std::vector<char> open;  // '{' or '[' of each enclosing container
  Expect expect = Expect::kValue;
  size_t i = 0;
  const auto at = [&](std::string what) { return what + " at byte " + std::to_string(i); };
  const auto after_value = [&] { expect = open.empty() ? Expect::kEnd : Expect::kCommaOrClose; };
  // Skips the string starting at text[i] == '"'; false when it is unterminated.
  const auto skip_string = [&] {
    for (++i; i < text.size(); ++i) {
      if (text[i] == '\\') {
        ++i;
      } else if (text[i] == '"') {
        ++i;
        return true;
      }
    }
    return false;
  };
  if (text.substr(0, 3) == "\xEF\xBB\xBF") return "a byte order mark (BOM) is not allowed";
  while (true) {
    while (i < text.size() && is_json_whitespace(text[i])) ++i;
    if (i == text.size()) {
      if (!open.empty()) return open.back() == '{' ? "unterminated object" : "unterminated array";
      if (expect != Expect::kEnd) return "unexpected end of input";
      return std::nullopt;
    }
    const char c = text[i];
    switch (expect) {
      case Expect::kValueOrClose:
        if (c == ']') {
          open.pop_back();
          ++i;
          after_value();
          continue;
        }
        [[fallthrough]];
      case Expect::kValue:
        if (c == '{' || c == '[') {
          open.push_back(c);
          expect = c == '{' ? Expect::kKeyOrClose : Expect::kValueOrClose;
          ++i;
          continue;
        }
        if (c == '"') {
          if (!skip_string()) return "unterminated string";
          after_value();
          continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
          while (i < text.size() && std::strchr("0123456789+-.eE", text[i]) != nullptr && text[i] != '\0') ++i;
          after_value();
          continue;
        }
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
          const size_t start = i;
          while (i < text.size() && ((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z'))) ++i;
          const std::string_view word = text.substr(start, i - start);
          if (word == "true" || word == "false" || word == "null") {
            after_value();
            continue;
          }
          i = start;
          return at("invalid literal '" + std::string(word.substr(0, 16)) + "' (expected true, false or null)");
        }
        if (c == '\'') return at("strings must use double quotes");
        if (c == ']' && !open.empty() && open.back() == '[') return at("trailing comma before ']'");
        return at("expected a value");
      case Expect::kKeyOrClose:
        if (c == '}') {
          open.pop_back();
          ++i;
          after_value();
          continue;
        }
        [[fallthrough]];
      case Expect::kKey:
        if (c == '"') {
          if (!skip_string()) return "unterminated string";
          expect = Expect::kColon;
          continue;
        }
        if (c == '}') return at("trailing comma before '}'");
        if (c == '\'') return at("strings must use double quotes");
        return at("object keys must be double-quoted strings");
      case Expect::kColon:
        if (c == ':') {
          expect = Expect::kValue;
          ++i;
          continue;
        }
        return at("expected ':' after an object key");
      case Expect::kCommaOrClose: {
        const char close = open.back() == '{' ? '}' : ']';
        if (c == ',') {
          expect = open.back() == '{' ? Expect::kKey : Expect::kValue;
          ++i;
          continue;
        }
        if (c == close) {
          open.pop_back();
          ++i;
          after_value();
          continue;
        }
        if (c == '}' || c == ']') return at(std::string("mismatched '") + c + "'");
        return at(std::string("expected ',' or '") + close + "'");
      }
      case Expect::kEnd:
        return at("unexpected content after the JSON value");
    }
  }
}

class TreeBuilder {
 public:
  explicit TreeBuilder(const ParseLimits& limits) : limits_(limits) {}

  // Builds `*out` from `value`, which sits inside `depth` arrays/objects.
  Status build(ondemand::value& value, int depth, Value* out) {
    ondemand::json_type type{};
    if (auto error = value.type().get(type)) return fail(error);
    switch (type) {
      case ondemand::json_type::object:
        return build_object(value, depth + 1, out);
      case ondemand::json_type::array:
        return build_array(value, depth + 1, out);
      case ondemand::json_type::string: {
        std::string_view text;
        if (auto error = value.get_string().get(text)) return fail(error);
        PAYOUTD_RETURN_IF_ERROR(check_text(text, "string"));
        *out = Value::string(std::string(text));
        return Status::ok();
      }
      case ondemand::json_type::number: {
        // raw_json_token() runs up to the next structural character, so it may carry trailing
        // whitespace; simdjson does not validate the number itself (nothing parsed it), so check
        // the grammar here.
        const std::string_view token = trim_trailing_whitespace(value.raw_json_token());
        if (!is_json_number(token)) return invalid_number(token);
        *out = Value::number(std::string(token));
        return Status::ok();
      }
      case ondemand::json_type::boolean: {
        bool flag = false;
        if (auto error = value.get_bool().get(flag)) return fail(error);
        *out = Value::boolean(flag);
        return Status::ok();
      }
      case ondemand::json_type::null: {
        bool is_null = false;
        if (auto error = value.is_null().get(is_null)) return fail(error);
        if (!is_null) return fail(kStructuralError);
        *out = Value::null();
        return Status::ok();
      }
    }
    return fail("unexpected token");
  }

  Status check_depth(int depth) const {
    if (depth > limits_.max_depth) {
      return fail("nested deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    return Status::ok();
  }

  // Length, NUL and UTF-8 rules for every string and key, after unescaping.
  Status check_text(std::string_view text, const char* what) const {
    if (text.size() > limits_.max_string_bytes) {
      return fail(std::string(what) + " longer than " + std::to_string(limits_.max_string_bytes) + " bytes");
    }
    if (std::memchr(text.data(), '\0', text.size()) != nullptr) {
      return fail(std::string(what) + " contains a NUL character (\\u0000), which is not allowed");
    }
    // simdjson validated the raw input; this catches escapes that decode to invalid UTF-8
    // (lone surrogates such as "\uDC00").
    if (!simdjson::validate_utf8(text.data(), text.size())) {
      return fail(std::string(what) + " is not valid UTF-8 (lone surrogate escape?)");
    }
    return Status::ok();
  }

 private:
  Status build_object(ondemand::value& value, int depth, Value* out) {
    PAYOUTD_RETURN_IF_ERROR(check_depth(depth));
    ondemand::object object;
    if (auto error = value.get_object().get(object)) return fail(error);
    std::vector<Value::Member> members;
    for (auto field_result : object) {
      ondemand::field field;
      if (auto error = std::move(field_result).get(field)) return fail(error);
      if (members.size() >= limits_.max_members) {
        return fail("object has more than " + std::to_string(limits_.max_members) + " members");
      }
      std::string_view key;
      if (auto error = field.unescaped_key().get(key)) return fail(error);
      PAYOUTD_RETURN_IF_ERROR(check_text(key, "key"));
      members.emplace_back(std::string(key), Value());
      PAYOUTD_RETURN_IF_ERROR(build(field.value(), depth, &members.back().second));
    }
    PAYOUTD_RETURN_IF_ERROR(check_duplicate_keys(members));
    *out = Value::object(std::move(members));
    return Status::ok();
  }

  Status build_array(ondemand::value& value, int depth, Value* out) {
    PAYOUTD_RETURN_IF_ERROR(check_depth(depth));
    ondemand::array array;
    if (auto error = value.get_array().get(array)) return fail(error);
    std::vector<Value> items;
    for (auto item_result : array) {
      ondemand::value item;
      if (auto error = std::move(item_result).get(item)) return fail(error);
      if (items.size() >= limits_.max_members) {
        return fail("array has more than " + std::to_string(limits_.max_members) + " items");
      }
      items.emplace_back();
      PAYOUTD_RETURN_IF_ERROR(build(item, depth, &items.back()));
    }
    *out = Value::array(std::move(items));
    return Status::ok();
  }

  static Status check_duplicate_keys(const std::vector<Value::Member>& members) {
    if (members.size() <= kPairwiseDuplicateCheckMax) {
      for (size_t i = 0; i < members.size(); ++i) {
        for (size_t j = i + 1; j < members.size(); ++j) {
          if (members[i].first == members[j].first) return duplicate_key(members[i].first);
        }
      }
      return Status::ok();
    }
    std::vector<std::string_view> keys;
    keys.reserve(members.size());
    for (const auto& member : members) keys.emplace_back(member.first);
    std::sort(keys.begin(), keys.end());
    const auto duplicate = std::adjacent_find(keys.begin(), keys.end());
    if (duplicate != keys.end()) return duplicate_key(*duplicate);
    return Status::ok();
  }

  static Status duplicate_key(std::string_view key) { return fail("duplicate key \"" + echo(key) + "\""); }

  const ParseLimits& limits_;
};

// simdjson needs SIMDJSON_PADDING readable bytes after the input. Each thread keeps one parser and
// one padded buffer, so a request allocates only for the Value tree it returns.
struct ThreadParser {
  ondemand::parser parser;
  std::string buffer;
};

ThreadParser& thread_parser() {
  thread_local ThreadParser instance;
  return instance;
}

}  // namespace

std::string_view type_name(Type type) {
  switch (type) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "boolean";
    case Type::kNumber:
      return "number";
    case Type::kString:
      return "string";
    case Type::kArray:
      return "array";
    case Type::kObject:
      return "object";
  }
  return "unknown";
}

Value Value::boolean(bool value) {
  Value result;
  result.type_ = Type::kBool;
  result.bool_ = value;
  return result;
}

Value Value::number(std::string text) {
  PAYOUTD_ASSERT(is_json_number(text));
  Value result;
  result.type_ = Type::kNumber;
  result.text_ = std::move(text);
  return result;
}

Value Value::string(std::string text) {
  Value result;
  result.type_ = Type::kString;
  result.text_ = std::move(text);
  return result;
}

Value Value::array(std::vector<Value> items) {
  Value result;
  result.type_ = Type::kArray;
  result.items_ = std::move(items);
  return result;
}

Value Value::object(std::vector<Member> members) {
  Value result;
  result.type_ = Type::kObject;
  result.members_ = std::move(members);
  return result;
}

bool Value::as_bool() const {
  PAYOUTD_ASSERT(type_ == Type::kBool);
  return bool_;
}

const std::string& Value::number_text() const {
  PAYOUTD_ASSERT(type_ == Type::kNumber);
  return text_;
}

const std::string& Value::as_string() const {
  PAYOUTD_ASSERT(type_ == Type::kString);
  return text_;
}

const std::vector<Value>& Value::items() const {
  PAYOUTD_ASSERT(type_ == Type::kArray);
  return items_;
}

const std::vector<Value::Member>& Value::members() const {
  PAYOUTD_ASSERT(type_ == Type::kObject);
  return members_;
}

const Value* Value::find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const auto& member : members_) {
    if (member.first == key) return &member.second;
  }
  return nullptr;
}

bool is_json_number(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  auto is_digit = [&](size_t at) { return at < n && text[at] >= '0' && text[at] <= '9'; };
  if (i < n && text[i] == '-') ++i;
  if (!is_digit(i)) return false;
  if (text[i] == '0') {
    ++i;
  } else {
    while (is_digit(i)) ++i;
  }
  if (i < n && text[i] == '.') {
    ++i;
    if (!is_digit(i)) return false;
    while (is_digit(i)) ++i;
  }
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < n && (text[i] == '+' || text[i] == '-')) ++i;
    if (!is_digit(i)) return false;
    while (is_digit(i)) ++i;
  }
  return i == n;
}

namespace {

// parse() after the size check, on a non-blank `text`.
Result<Value> parse_nonblank(std::string_view text, std::string_view trimmed, const ParseLimits& limits) {
  ThreadParser& state = thread_parser();
  state.buffer.assign(text);
  state.buffer.append(simdjson::SIMDJSON_PADDING, '\0');
  struct ReleaseLargeBuffer {
    std::string& buffer;
    ~ReleaseLargeBuffer() {
      if (buffer.capacity() > kMaxRetainedBufferBytes) std::string().swap(buffer);
    }
  } release{state.buffer};

  ondemand::document document;
  if (auto error = state.parser.iterate(state.buffer.data(), text.size(), state.buffer.size()).get(document)) {
    return fail(error);
  }
  ondemand::json_type type{};
  if (auto error = document.type().get(type)) return fail(error);

  TreeBuilder builder(limits);
  Value root;
  switch (type) {
    case ondemand::json_type::object:
    case ondemand::json_type::array: {
      ondemand::value value;
      if (auto error = document.get_value().get(value)) return fail(error);
      PAYOUTD_RETURN_IF_ERROR(builder.build(value, 0, &root));
      break;
    }
    case ondemand::json_type::string: {
      std::string_view string_value;
      if (auto error = document.get_string().get(string_value)) return fail(error);
      PAYOUTD_RETURN_IF_ERROR(builder.check_text(string_value, "string"));
      root = Value::string(std::string(string_value));
      break;
    }
    case ondemand::json_type::number: {
      // A scalar document: the whole input, minus surrounding whitespace, must be the number.
      const size_t token_end = std::min(trimmed.find_first_of(" \t\r\n"), trimmed.size());
      const std::string_view token = trimmed.substr(0, token_end);
      if (!is_json_number(token)) return invalid_number(token);
      if (token_end != trimmed.size()) {
        return fail("unexpected content after the JSON value at byte " +
                    std::to_string(static_cast<size_t>(trimmed.data() - text.data()) +
                                   trimmed.find_first_not_of(" \t\r\n", token_end)));
      }
      return Value::number(std::string(token));
    }
    case ondemand::json_type::boolean: {
      bool flag = false;
      if (auto error = document.get_bool().get(flag)) return fail(error);
      root = Value::boolean(flag);
      break;
    }
    case ondemand::json_type::null: {
      bool is_null = false;
      if (auto error = document.is_null().get(is_null)) return fail(error);
      if (!is_null) return fail(kStructuralError);
      break;
    }
  }
  PAYOUTD_RETURN_IF_ERROR(check_at_end(document, state.buffer.data()));
  return root;
}

}  // namespace

Result<Value> parse(std::string_view text, const ParseLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return fail("body larger than " + std::to_string(limits.max_bytes) + " bytes");
  }
  const std::string_view trimmed = trim_whitespace(text);
  if (trimmed.empty()) return fail("empty body");
  Result<Value> result = parse_nonblank(text, trimmed, limits);
  if (!result.is_ok() && is_structural_failure(result.status())) {
    if (std::optional<std::string> reason = describe_syntax_error(text)) return fail(*std::move(reason));
  }
  return result;
}

}  // namespace payoutd::json
