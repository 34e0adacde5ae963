#include "json/writer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "json/value.h"
#include "support/test_support.h"

namespace payoutd::json {
namespace {

TEST(EscapeTest, Table) {
  struct Case {
    std::string input;
    std::string expected;
  };
  const Case cases[] = {
      {"", ""},
      {"plain text 123", "plain text 123"},
      {"\"", "\\\""},
      {"\\", "\\\\"},
      {"a\"b\\c", "a\\\"b\\\\c"},
      {"/", "/"},
      {"\n", "\\u000a"},
      {"\r\t\b\f", "\\u000d\\u0009\\u0008\\u000c"},
      {std::string(1, '\0'), "\\u0000"},
      {"\x01\x1f", "\\u0001\\u001f"},
      {" ", " "},
      {"\x7f", "\x7f"},
      {"Jos\xC3\xA9 \xC3\x91\xC3\xBA\xC3\xB1" "ez", "Jos\xC3\xA9 \xC3\x91\xC3\xBA\xC3\xB1" "ez"},  // passes through
      {"\xE2\x82\xAC", "\xE2\x82\xAC"},                                            // €
      {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"},                                    // U+1F600
      {"\xEF\xBF\xBF", "\xEF\xBF\xBF"},                                            // U+FFFF
      {"\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF"},                                    // U+10FFFF
      // Invalid UTF-8: each offending byte becomes U+FFFD; the rest is kept.
      {"a\xFF" "b", "a\xEF\xBF\xBD" "b"},
      {"\xC3\x28", "\xEF\xBF\xBD("},
      {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},                                    // overlong
      {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},                     // surrogate
      {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},      // > U+10FFFF
      {"\xE2\x82", "\xEF\xBF\xBD\xEF\xBF\xBD"},                                    // truncated at end
      {"\x80", "\xEF\xBF\xBD"},                                                    // lone continuation
  };
  for (const Case& c : cases) {
    EXPECT_EQ(escape(c.input), c.expected) << c.input;
  }
}

// "<escaped text>" built by appending (GCC 12 -O3 warns falsely on `"literal" + std::string&&`).
std::string as_json_string(std::string_view text) {
  std::string out = "\"";
  append_escaped(text, &out);
  out.push_back('"');
  return out;
}

TEST(EscapeTest, RoundTripThroughParseForEveryByte) {
  // Every single byte, every valid code point class, and a random mix: what the writer produces
  // is always valid JSON, and valid UTF-8 input comes back unchanged.
  for (int byte = 1; byte < 0x80; ++byte) {
    const std::string input(1, static_cast<char>(byte));
    Result<Value> parsed = parse(as_json_string(input));
    ASSERT_TRUE(parsed.is_ok()) << byte << ": " << parsed.status().message();
    EXPECT_EQ(parsed->as_string(), input) << byte;
  }
  for (int byte = 0x80; byte < 0x100; ++byte) {
    const std::string input(1, static_cast<char>(byte));
    Result<Value> parsed = parse(as_json_string(input));
    ASSERT_TRUE(parsed.is_ok()) << byte << ": " << parsed.status().message();
    EXPECT_EQ(parsed->as_string(), "\xEF\xBF\xBD") << byte;
  }
}

TEST(EscapeTest, RandomBytesAlwaysYieldParseableJson) {
  const uint64_t seed = testing::random_seed_for_run("EscapeTest.RandomBytesAlwaysYieldParseableJson");
  testing::SeededRandom random(seed);
  for (int round = 0; round < 2000; ++round) {
    std::string input(round % 40, '\0');
    for (char& c : input) {
      // Bias toward the interesting bytes: controls, quotes, backslashes, UTF-8 lead/continuation.
      const uint64_t r = random.engine()();
      c = static_cast<char>((r % 4 == 0) ? "\"\\\x01\n\xC3\xA9\xE2\x82\xAC\xF0\x9F"[r / 4 % 12] : (r >> 8) & 0xFF);
      if (c == '\0') c = 'z';  // NUL round-trips as \u0000, which parse() rejects by policy
    }
    Writer writer;
    writer.begin_object();
    writer.key(input);
    writer.string(input);
    writer.end_object();
    Result<Value> parsed = parse(writer.output());
    ASSERT_TRUE(parsed.is_ok()) << "seed " << seed << " round " << round << ": " << parsed.status().message();
    ASSERT_EQ(parsed->members().size(), 1u);
    EXPECT_EQ(parsed->members()[0].first, parsed->members()[0].second.as_string());
  }
}

TEST(WriterTest, FlatObject) {
  Writer writer;
  writer.begin_object();
  writer.key("code");
  writer.integer(509);
  writer.key("message");
  writer.string("Cashout not found with this ID");
  writer.end_object();
  EXPECT_TRUE(writer.complete());
  EXPECT_EQ(writer.take(), "{\"code\":509,\"message\":\"Cashout not found with this ID\"}");
  EXPECT_FALSE(writer.complete());
  EXPECT_EQ(writer.output(), "");
}

TEST(WriterTest, NestedStructures) {
  Writer writer;
  writer.begin_object();
  writer.key("id");
  writer.string("pyt_8fK2mQ9xL1vT0aZc");
  writer.key("amount");
  writer.raw_number("100.00");
  writer.key("fees");
  writer.raw_number("1.50");
  writer.key("phone");
  writer.string_or_null(std::nullopt);
  writer.key("email");
  writer.string_or_null(std::string("john.doe@example.com"));
  writer.key("metadata");
  writer.begin_object();
  writer.end_object();
  writer.key("events");
  writer.begin_array();
  for (int i = 0; i < 2; ++i) {
    writer.begin_object();
    writer.key("from_status");
    if (i == 0) {
      writer.null();
    } else {
      writer.string("created");
    }
    writer.key("ok");
    writer.boolean(i == 0);
    writer.end_object();
  }
  writer.end_array();
  writer.key("matrix");
  writer.begin_array();
  writer.begin_array();
  writer.end_array();
  writer.begin_array();
  writer.integer(1);
  writer.integer(-2);
  writer.end_array();
  writer.end_array();
  writer.end_object();
  ASSERT_TRUE(writer.complete());
  const std::string expected =
      "{\"id\":\"pyt_8fK2mQ9xL1vT0aZc\",\"amount\":100.00,\"fees\":1.50,\"phone\":null,"
      "\"email\":\"john.doe@example.com\",\"metadata\":{},"
      "\"events\":[{\"from_status\":null,\"ok\":true},{\"from_status\":\"created\",\"ok\":false}],"
      "\"matrix\":[[],[1,-2]]}";
  EXPECT_EQ(writer.output(), expected);

  // And it reads back with the exact number text.
  Result<Value> parsed = parse(writer.output());
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().message();
  EXPECT_EQ(parsed->find("amount")->number_text(), "100.00");
  EXPECT_EQ(parsed->find("fees")->number_text(), "1.50");
  EXPECT_TRUE(parsed->find("phone")->is_null());
  EXPECT_EQ(parsed->find("events")->items()[1].find("from_status")->as_string(), "created");
}

TEST(WriterTest, ScalarRootsAndArrays) {
  struct Case {
    void (*write)(Writer&);
    const char* expected;
  };
  const Case cases[] = {
      {[](Writer& w) { w.null(); }, "null"},
      {[](Writer& w) { w.boolean(true); }, "true"},
      {[](Writer& w) { w.boolean(false); }, "false"},
      {[](Writer& w) { w.integer(0); }, "0"},
      {[](Writer& w) { w.integer(std::numeric_limits<int64_t>::min()); }, "-9223372036854775808"},
      {[](Writer& w) { w.integer(std::numeric_limits<int64_t>::max()); }, "9223372036854775807"},
      {[](Writer& w) { w.raw_number("-0.001"); }, "-0.001"},
      {[](Writer& w) { w.string(""); }, "\"\""},
      {[](Writer& w) {
         w.begin_array();
         w.end_array();
       },
       "[]"},
      {[](Writer& w) {
         w.begin_array();
         w.string("a");
         w.null();
         w.raw_number("1e2");
         w.begin_object();
         w.key("");
         w.integer(1);
         w.end_object();
         w.end_array();
       },
       "[\"a\",null,1e2,{\"\":1}]"},
  };
  for (const Case& c : cases) {
    Writer writer;
    c.write(writer);
    EXPECT_TRUE(writer.complete()) << c.expected;
    EXPECT_EQ(writer.output(), c.expected);
    EXPECT_TRUE(parse(writer.output()).is_ok()) << c.expected;
  }
}

TEST(WriterTest, KeysAreEscaped) {
  Writer writer;
  writer.begin_object();
  writer.key("a\"b\n");
  writer.integer(1);
  writer.end_object();
  EXPECT_EQ(writer.output(), "{\"a\\\"b\\u000a\":1}");
  Result<Value> parsed = parse(writer.output());
  ASSERT_TRUE(parsed.is_ok());
  EXPECT_NE(parsed->find("a\"b\n"), nullptr);
}

TEST(WriterTest, AppendsToAGivenBufferAndIsReusable) {
  std::string buffer = "prefix:";
  buffer.reserve(256);
  Writer writer(std::move(buffer));
  writer.begin_array();
  writer.integer(1);
  writer.end_array();
  EXPECT_EQ(writer.take(), "prefix:[1]");
  writer.reserve(64);
  writer.begin_object();
  writer.end_object();
  EXPECT_EQ(writer.take(), "{}");
}

TEST(WriterTest, DeepNestingUpToTheLimit) {
  Writer writer;
  for (int i = 0; i < Writer::kMaxDepth; ++i) writer.begin_array();
  for (int i = 0; i < Writer::kMaxDepth; ++i) writer.end_array();
  EXPECT_TRUE(writer.complete());
  EXPECT_EQ(writer.output(), std::string(64, '[') + std::string(64, ']'));
}

TEST(WriterDeathTest, MisuseAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Writer writer;
        writer.begin_object();
        writer.integer(1);  // value without key
      },
      "");
  EXPECT_DEATH(
      {
        Writer writer;
        writer.begin_array();
        writer.key("a");  // key in an array
      },
      "");
  EXPECT_DEATH(
      {
        Writer writer;
        writer.begin_array();
        writer.end_object();  // mismatched
      },
      "");
  EXPECT_DEATH(
      {
        Writer writer;
        writer.integer(1);
        writer.integer(2);  // second root
      },
      "");
  EXPECT_DEATH(
      {
        Writer writer;
        writer.raw_number("1.");  // not a JSON number
      },
      "");
  EXPECT_DEATH(
      {
        Writer writer;
        for (int i = 0; i <= Writer::kMaxDepth; ++i) writer.begin_array();
      },
      "");
}

}  // namespace
}  // namespace payoutd::json
