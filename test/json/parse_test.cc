#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "json/value.h"

namespace payoutd::json {
namespace {

// ---------------------------------------------------------------------------------------------
// Table: inputs that must be rejected, each with a fragment of the expected reason.

struct InvalidCase {
  const char* name;
  std::string input;
  const char* reason_fragment;  // must appear in the Status message ("" = any)
};

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int value : values) out.push_back(static_cast<char>(value));
  return out;
}

std::string nested_arrays(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string nested_objects(int depth) {
  std::string out;
  for (int i = 0; i < depth; ++i) out += "{\"a\":";
  out += "1";
  out += std::string(depth, '}');
  return out;
}

const std::vector<InvalidCase>& invalid_cases() {
  static const std::vector<InvalidCase> kCases = {
      {"empty", "", "empty"},
      {"spaces", "   ", "empty"},
      {"whitespace_mix", " \t\r\n ", "empty"},
      {"open_brace", "{", "unterminated object"},
      {"open_bracket", "[", "unterminated array"},
      {"unclosed_object", "{\"a\":1", "unterminated object"},
      {"unclosed_array", "[1,2", "unterminated array"},
      {"unclosed_nested", "{\"a\":[1,2}", "mismatched '}' at byte 9"},
      {"extra_close", "{\"a\":1}}", "after the JSON value at byte 7"},
      {"trailing_word", "{\"a\":1} x", "after the JSON value"},
      {"two_roots", "{} {}", "after the JSON value at byte 3"},
      {"two_arrays", "[1][2]", "after the JSON value"},
      {"trailing_after_number", "1 2", "after the JSON value at byte 2"},
      {"trailing_after_string", "\"a\" \"b\"", "after the JSON value"},
      {"trailing_after_true", "true false", "after the JSON value"},
      {"trailing_after_null", "null x", "after the JSON value"},
      {"single_quotes", "{'a':1}", "double quotes"},
      {"unquoted_key", "{a:1}", "keys must be double-quoted strings"},
      {"trailing_comma_object", "{\"a\":1,}", "trailing comma before '}'"},
      {"trailing_comma_array", "[1,2,]", "trailing comma before ']'"},
      {"leading_comma_array", "[,1]", "expected a value at byte 1"},
      {"double_comma", "[1,,2]", "expected a value at byte 3"},
      {"missing_comma_array", "[1 2]", "expected ',' or ']' at byte 3"},
      {"missing_comma_object", "{\"a\":1 \"b\":2}", "expected ',' or '}'"},
      {"missing_colon", "{\"a\" 1}", "expected ':'"},
      {"missing_value", "{\"a\":}", "expected a value"},
      {"key_not_string", "{1:1}", "keys must be double-quoted strings"},
      {"comment", "{\"a\":1 /* c */}", "expected ',' or '}' at byte 7"},
      {"leading_zero", "01", "number"},
      {"leading_zero_in_object", "{\"a\":01}", "number"},
      {"negative_leading_zero", "-01", "number"},
      {"trailing_dot", "1.", "number"},
      {"trailing_dot_in_array", "[1.]", "number"},
      {"lone_minus", "-", "number"},
      {"lone_minus_in_array", "[-]", "invalid number '-'"},
      {"plus_sign", "+1", "expected a value at byte 0"},
      {"plus_sign_in_array", "[+1]", "expected a value at byte 1"},
      {"leading_dot", ".5", "expected a value"},
      {"leading_dot_in_object", "{\"a\":.5}", "expected a value"},
      {"exponent_without_digits", "1e", "number"},
      {"exponent_sign_without_digits", "[1e+]", "number"},
      {"dot_exponent", "1.e5", "number"},
      {"hex_number", "0x10", "number"},
      {"number_with_letter", "[12a]", "number"},
      {"nan", "NaN", "invalid literal 'NaN'"},
      {"nan_in_array", "[NaN]", "invalid literal 'NaN'"},
      {"infinity", "Infinity", "invalid literal 'Infinity'"},
      {"negative_infinity", "-Infinity", "invalid number"},
      {"infinity_in_object", "{\"a\":Infinity}", "invalid literal"},
      {"truncated_true", "[tru]", "invalid literal 'tru'"},
      {"truncated_null", "nul", "invalid literal 'nul'"},
      {"capital_true", "True", "invalid literal 'True'"},
      {"null_with_suffix", "[nullx]", "invalid literal 'nullx'"},
      {"invalid_utf8_c3_28", "\"" + bytes({0xC3, 0x28}) + "\"", "UTF-8"},
      {"invalid_utf8_ff", "{\"a\":\"" + bytes({0xFF}) + "\"}", "UTF-8"},
      {"invalid_utf8_overlong_slash", "[\"" + bytes({0xC0, 0xAF}) + "\"]", "UTF-8"},
      {"invalid_utf8_surrogate_bytes", "[\"" + bytes({0xED, 0xA0, 0x80}) + "\"]", "UTF-8"},
      {"invalid_utf8_in_key", "{\"" + bytes({0xFE}) + "\":1}", "UTF-8"},
      {"invalid_utf8_outside_string", "[1]" + bytes({0xFF}), "UTF-8"},
      {"invalid_utf8_truncated", "[\"" + bytes({0xE2, 0x82}) + "\"]", "UTF-8"},
      {"lone_high_surrogate", "[\"\\uD800\"]", "escape"},
      {"lone_high_surrogate_then_text", "[\"\\uD800abc\"]", "escape"},
      {"high_surrogate_then_non_low", "[\"\\uD800\\u0041\"]", "escape"},
      {"lone_low_surrogate", "[\"\\uDC00\"]", "escape"},
      {"lone_surrogate_in_key", "{\"\\uDFFF\":1}", "escape"},
      {"raw_nul_in_string", "[\"a" + std::string(1, '\0') + "b\"]", "control character"},
      {"escaped_nul_in_string", "[\"a\\u0000b\"]", "NUL"},
      {"escaped_nul_in_key", "{\"a\\u0000\":1}", "NUL"},
      {"escaped_nul_root_string", "\"\\u0000\"", "NUL"},
      {"raw_newline_in_string", "[\"a\nb\"]", "control character"},
      {"raw_tab_in_string", "{\"a\":\"x\ty\"}", "control character"},
      {"raw_0x1f_in_string", "[\"" + bytes({0x1F}) + "\"]", "control character"},
      {"invalid_escape", "[\"\\x41\"]", "escape"},
      {"invalid_escape_single_quote", "[\"\\'\"]", "escape"},
      {"short_unicode_escape", "[\"\\u12\"]", "escape"},
      {"non_hex_unicode_escape", "[\"\\uZZZZ\"]", "escape"},
      {"unterminated_string", "[\"abc]", "unterminated string"},
      {"unterminated_root_string", "\"abc", "unterminated string"},
      {"duplicate_key", "{\"a\":1,\"a\":2}", "duplicate key \"a\""},
      {"duplicate_key_same_value", "{\"a\":1,\"b\":2,\"a\":1}", "duplicate key"},
      {"duplicate_key_nested", "{\"x\":{\"k\":1,\"k\":true}}", "duplicate key \"k\""},
      {"duplicate_key_in_array_item", "[{},{\"a\":1,\"a\":1}]", "duplicate key"},
      {"duplicate_key_after_unescape", "{\"a\":1,\"\\u0061\":2}", "duplicate key"},
      {"duplicate_empty_key", "{\"\":1,\"\":2}", "duplicate key"},
      {"depth_33_arrays", nested_arrays(33), "deeper than 32"},
      {"depth_33_objects", nested_objects(33), "deeper than 32"},
      {"depth_1000", nested_arrays(1000), "deeper than 32"},
      {"mismatched_bracket", "[1}", "mismatched '}' at byte 2"},
      {"mismatched_brace", "{\"a\":1]", "mismatched ']'"},
      {"colon_in_array", "[\"a\":1]", "expected ',' or ']'"},
      {"empty_member", "{,}", "keys must be double-quoted strings"},
      {"close_only", "]", "expected a value at byte 0"},
      {"number_then_string", "[1\"a\"]", "invalid number"},
      {"number_with_garbage", "[1e400x]", "invalid number '1e400x'"},
      {"whitespace_then_garbage", " \n x", "invalid literal 'x' (expected true, false or null) at byte 3"},
      {"bom", "\xEF\xBB\xBF{}", "byte order mark"},
  };
  return kCases;
}

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }

class InvalidJsonTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidJsonTest, Rejected) {
  const InvalidCase& c = GetParam();
  Result<Value> result = parse(c.input);
  ASSERT_FALSE(result.is_ok()) << c.name;
  EXPECT_EQ(result.status().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(result.status().field(), "body");
  EXPECT_NE(result.status().message().find(c.reason_fragment), std::string::npos)
      << c.name << ": " << result.status().message();
}

INSTANTIATE_TEST_SUITE_P(Table, InvalidJsonTest, ::testing::ValuesIn(invalid_cases()),
                         [](const ::testing::TestParamInfo<InvalidCase>& param_info) { return param_info.param.name; });

// ---------------------------------------------------------------------------------------------
// Table: numbers keep their exact source text, in every position.


class NumberTextTest : public ::testing::TestWithParam<const char*> {};

TEST_P(NumberTextTest, KeptExactly) {
  const std::string text = GetParam();
  EXPECT_TRUE(is_json_number(text));
  // Root scalar (with surrounding whitespace), array item, object member.
  Result<Value> root = parse(" " + text + "\n");
  ASSERT_TRUE(root.is_ok()) << text << ": " << root.status().message();
  ASSERT_TRUE(root->is_number());
  EXPECT_EQ(root->number_text(), text);

  Result<Value> array = parse("[" + text + " , " + text + "]");
  ASSERT_TRUE(array.is_ok()) << text << ": " << array.status().message();
  ASSERT_EQ(array->items().size(), 2u);
  EXPECT_EQ(array->items()[0].number_text(), text);
  EXPECT_EQ(array->items()[1].number_text(), text);

  Result<Value> object = parse("{\"amount\":" + text + "\t}");
  ASSERT_TRUE(object.is_ok()) << text << ": " << object.status().message();
  ASSERT_NE(object->find("amount"), nullptr);
  EXPECT_EQ(object->find("amount")->number_text(), text);
}

INSTANTIATE_TEST_SUITE_P(Table, NumberTextTest,
                         ::testing::Values("0", "-0", "1", "100", "100.10", "100.00", "0.5", "-12.345", "1e2",
                                           "1E2", "1e+2", "1e-2", "-0.0e0", "1e400", "-1e400", "1e-400",
                                           "100000000000000000000000", "12345678901234567890123",
                                           "18446744073709551616", "-9223372036854775809",
                                           "0.1000000000000000055511151231257827",
                                           "3.14159265358979323846264338327950288"));

TEST(IsJsonNumberTest, GrammarTable) {
  struct Case {
    const char* text;
    bool valid;
  };
  const Case cases[] = {
      {"0", true},     {"-0", true},    {"10", true},   {"1.5", true},   {"1e5", true},  {"1E-5", true},
      {"0.0", true},   {"", false},     {"-", false},   {"+1", false},   {".5", false},  {"1.", false},
      {"01", false},   {"-01", false},  {"00", false},  {"1e", false},   {"1e+", false}, {"1.e1", false},
      {"1.5.", false}, {"1..5", false}, {"--1", false}, {" 1", false},   {"1 ", false},  {"0x1", false},
      {"NaN", false},  {"1_000", false}, {"١", false},
  };
  for (const Case& c : cases) EXPECT_EQ(is_json_number(c.text), c.valid) << '"' << c.text << '"';
}

// ---------------------------------------------------------------------------------------------
// Valid documents.

TEST(ParseTest, TypicalCashoutBody) {
  Result<Value> result = parse(
      "{\"login\":\"cashout_login\",\"pass\":\"cashout_pass\",\"external_id\":\"cashoutID2134\","
      "\"country\":\"BR\",\"amount\":100.10,\"on_hold\":false,\"bank_code\":104,\"email\":null,"
      "\"beneficiary_name\":\"Jos\\u00e9 \\u00d1\\u00fa\\u00f1ez\",\"meta\":{\"a\":[1,\"two\",true]}}");
  ASSERT_TRUE(result.is_ok()) << result.status().message();
  const Value& root = *result;
  ASSERT_TRUE(root.is_object());
  ASSERT_EQ(root.members().size(), 10u);
  // Source order is kept.
  EXPECT_EQ(root.members()[0].first, "login");
  EXPECT_EQ(root.members()[9].first, "meta");
  EXPECT_EQ(root.find("login")->as_string(), "cashout_login");
  EXPECT_EQ(root.find("amount")->type(), Type::kNumber);
  EXPECT_EQ(root.find("amount")->number_text(), "100.10");
  EXPECT_EQ(root.find("bank_code")->number_text(), "104");
  EXPECT_FALSE(root.find("on_hold")->as_bool());
  EXPECT_TRUE(root.find("email")->is_null());
  EXPECT_EQ(root.find("beneficiary_name")->as_string(), "Jos\xC3\xA9 \xC3\x91\xC3\xBA\xC3\xB1" "ez");
  EXPECT_EQ(root.find("missing"), nullptr);
  const Value* meta = root.find("meta");
  ASSERT_NE(meta, nullptr);
  const Value* list = meta->find("a");
  ASSERT_NE(list, nullptr);
  ASSERT_EQ(list->items().size(), 3u);
  EXPECT_EQ(list->items()[0].number_text(), "1");
  EXPECT_EQ(list->items()[1].as_string(), "two");
  EXPECT_TRUE(list->items()[2].as_bool());
  // find() on a non-object is simply "absent".
  EXPECT_EQ(list->find("a"), nullptr);
  EXPECT_EQ(root.find("login")->find("x"), nullptr);
}

TEST(ParseTest, ScalarAndEmptyRoots) {
  struct Case {
    const char* text;
    Type type;
  };
  const Case cases[] = {
      {"{}", Type::kObject}, {" [ ] ", Type::kArray}, {"true", Type::kBool},   {" false ", Type::kBool},
      {"null", Type::kNull}, {"\n null \n", Type::kNull}, {"\"\"", Type::kString}, {" \"x\" ", Type::kString},
      {"7", Type::kNumber},
  };
  for (const Case& c : cases) {
    Result<Value> result = parse(c.text);
    ASSERT_TRUE(result.is_ok()) << c.text << ": " << result.status().message();
    EXPECT_EQ(result->type(), c.type) << c.text;
  }
  EXPECT_TRUE(parse("true")->as_bool());
  EXPECT_FALSE(parse("false")->as_bool());
  EXPECT_EQ(parse("\"x\"")->as_string(), "x");
  EXPECT_TRUE(parse("{}")->members().empty());
  EXPECT_TRUE(parse("[]")->items().empty());
}

TEST(ParseTest, EscapesAreDecoded) {
  struct Case {
    const char* json;
    std::string expected;
  };
  const Case cases[] = {
      {"\"\\u00e9\"", "\xC3\xA9"},                         // é
      {"\"\\u00E9\"", "\xC3\xA9"},                         // upper-case hex digits
      {"\"\\u20ac\"", "\xE2\x82\xAC"},                     // €
      {"\"\\ud83d\\ude00\"", "\xF0\x9F\x98\x80"},          // U+1F600 via a surrogate pair
      {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t"},
      {"\"\\u0001\\u001f\"", "\x01\x1f"},                  // escaped controls other than NUL are fine
      {"\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},  // raw UTF-8
      {"\"\x7f\"", "\x7f"},                                // DEL needs no escape
  };
  for (const Case& c : cases) {
    Result<Value> result = parse(c.json);
    ASSERT_TRUE(result.is_ok()) << c.json << ": " << result.status().message();
    EXPECT_EQ(result->as_string(), c.expected) << c.json;
    // Same inside an object, as key and as value.
    Result<Value> object = parse(std::string("{") + c.json + ":" + c.json + "}");
    ASSERT_TRUE(object.is_ok()) << c.json << ": " << object.status().message();
    ASSERT_EQ(object->members().size(), 1u);
    EXPECT_EQ(object->members()[0].first, c.expected);
    EXPECT_EQ(object->members()[0].second.as_string(), c.expected);
  }
}

TEST(ParseTest, DepthLimitIsExact) {
  EXPECT_TRUE(parse(nested_arrays(32)).is_ok());
  EXPECT_TRUE(parse(nested_objects(32)).is_ok());
  EXPECT_FALSE(parse(nested_arrays(33)).is_ok());
  EXPECT_FALSE(parse(nested_objects(33)).is_ok());
  // Scalars do not count as a level.
  EXPECT_TRUE(parse(std::string(32, '[') + "1" + std::string(32, ']')).is_ok());
  // A custom limit.
  ParseLimits limits;
  limits.max_depth = 2;
  EXPECT_TRUE(parse("{\"a\":[1]}", limits).is_ok());
  EXPECT_FALSE(parse("{\"a\":[[1]]}", limits).is_ok());
  EXPECT_TRUE(parse("1", ParseLimits{.max_depth = 0}).is_ok());
  EXPECT_FALSE(parse("[]", ParseLimits{.max_depth = 0}).is_ok());
}

TEST(ParseTest, ByteLimitIsExact) {
  // {"a":"xxx..."} of exactly 65536 bytes: 8 bytes of syntax.
  const std::string at_limit = "{\"a\":\"" + std::string(65536 - 8, 'x') + "\"}";
  ASSERT_EQ(at_limit.size(), 65536u);
  EXPECT_TRUE(parse(at_limit).is_ok());
  const std::string over_limit = "{\"a\":\"" + std::string(65537 - 8, 'x') + "\"}";
  ASSERT_EQ(over_limit.size(), 65537u);
  Result<Value> result = parse(over_limit);
  ASSERT_FALSE(result.is_ok());
  EXPECT_NE(result.status().message().find("larger than 65536 bytes"), std::string::npos);
  // Whitespace counts too.
  EXPECT_FALSE(parse("{}" + std::string(65535, ' ')).is_ok());
  EXPECT_TRUE(parse("{}" + std::string(65534, ' ')).is_ok());
  EXPECT_FALSE(parse("{\"a\":1}", ParseLimits{.max_bytes = 6}).is_ok());
  EXPECT_TRUE(parse("{\"a\":1}", ParseLimits{.max_bytes = 7}).is_ok());
}

std::string object_with_members(size_t count) {
  std::string out = "{";
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) out += ",";
    out += "\"k" + std::to_string(i) + "\":" + std::to_string(i);
  }
  return out + "}";
}

std::string array_with_items(size_t count) {
  std::string out = "[";
  for (size_t i = 0; i < count; ++i) out += i > 0 ? ",0" : "0";
  return out + "]";
}

TEST(ParseTest, MemberLimitIsExact) {
  Result<Value> at_limit = parse(object_with_members(1024));
  ASSERT_TRUE(at_limit.is_ok()) << at_limit.status().message();
  EXPECT_EQ(at_limit->members().size(), 1024u);
  EXPECT_EQ(at_limit->find("k1023")->number_text(), "1023");
  Result<Value> over = parse(object_with_members(1025));
  ASSERT_FALSE(over.is_ok());
  EXPECT_NE(over.status().message().find("more than 1024 members"), std::string::npos);

  EXPECT_TRUE(parse(array_with_items(1024)).is_ok());
  Result<Value> over_array = parse(array_with_items(1025));
  ASSERT_FALSE(over_array.is_ok());
  EXPECT_NE(over_array.status().message().find("more than 1024 items"), std::string::npos);
  // Huge member count within the byte limit.
  EXPECT_FALSE(parse(array_with_items(30000)).is_ok());
}

TEST(ParseTest, DuplicateDetectionInLargeObjects) {
  // Above the pairwise threshold the sorted check is used; put the duplicate far apart.
  std::string text = object_with_members(500);
  text.pop_back();
  text += ",\"k3\":0}";
  Result<Value> result = parse(text);
  ASSERT_FALSE(result.is_ok());
  EXPECT_NE(result.status().message().find("duplicate key \"k3\""), std::string::npos);
  // Keys that differ only after a long common prefix are not duplicates.
  EXPECT_TRUE(parse("{\"" + std::string(100, 'a') + "1\":1,\"" + std::string(100, 'a') + "2\":2}").is_ok());
}

TEST(ParseTest, LongDuplicateKeyIsEchoedTruncated) {
  const std::string key(500, 'k');
  Result<Value> result = parse("{\"" + key + "\":1,\"" + key + "\":2}");
  ASSERT_FALSE(result.is_ok());
  EXPECT_LT(result.status().message().size(), 200u);
}

TEST(ParseTest, StringLimit) {
  ParseLimits limits;
  limits.max_string_bytes = 4;
  EXPECT_TRUE(parse("[\"abcd\"]", limits).is_ok());
  EXPECT_FALSE(parse("[\"abcde\"]", limits).is_ok());
  EXPECT_FALSE(parse("{\"abcde\":1}", limits).is_ok());
  EXPECT_FALSE(parse("\"abcde\"", limits).is_ok());
  // The limit applies to the unescaped bytes: "\u00e9\u00e9" is 4 bytes.
  EXPECT_TRUE(parse("[\"\\u00e9\\u00e9\"]", limits).is_ok());
  EXPECT_FALSE(parse("[\"\\u00e9\\u00e9\\u00e9\"]", limits).is_ok());
}

TEST(ParseTest, ReusableAcrossCallsAndSizes) {
  // The thread-local parser and buffer must not leak state between documents.
  for (int round = 0; round < 3; ++round) {
    EXPECT_TRUE(parse(object_with_members(800)).is_ok());
    EXPECT_FALSE(parse("{\"a\":1").is_ok());
    Result<Value> small = parse("{\"b\":2}");
    ASSERT_TRUE(small.is_ok());
    EXPECT_EQ(small->find("b")->number_text(), "2");
    EXPECT_EQ(small->find("a"), nullptr);
  }
}

TEST(ParseTest, ValueOutlivesInputBuffer) {
  Result<Value> result = Status::internal("unset");
  {
    std::string text = "{\"name\":\"temporary\",\"n\":12.50}";
    result = parse(text);
    text.assign(text.size(), 'X');
    (void)parse("[\"something else entirely\", 99]");
  }
  ASSERT_TRUE(result.is_ok());
  EXPECT_EQ(result->find("name")->as_string(), "temporary");
  EXPECT_EQ(result->find("n")->number_text(), "12.50");
}

TEST(ParseTest, BuildersAndTypeNames) {
  EXPECT_EQ(type_name(Type::kNull), "null");
  EXPECT_EQ(type_name(Type::kObject), "object");
  const Value object = Value::object({{"a", Value::number("1.50")}, {"b", Value::string("x")}});
  EXPECT_EQ(object.find("a")->number_text(), "1.50");
  EXPECT_EQ(object.find("b")->as_string(), "x");
  EXPECT_TRUE(Value().is_null());
  EXPECT_TRUE(Value::boolean(true).as_bool());
}

TEST(ParseDeathTest, WrongTypeAccessAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH((void)Value::string("x").number_text(), "");
  EXPECT_DEATH((void)Value().as_bool(), "");
  EXPECT_DEATH((void)Value::number("1e"), "");
}

}  // namespace
}  // namespace payoutd::json
