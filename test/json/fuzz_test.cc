// Randomized robustness: mutated documents never crash the parser (run under ASan/UBSan), and
// whatever it accepts survives a Writer round trip unchanged.
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "json/value.h"
#include "json/writer.h"
#include "support/test_support.h"

namespace payoutd::json {
namespace {

void write_value(const Value& value, Writer* writer) {
  switch (value.type()) {
    case Type::kNull:
      writer->null();
      return;
    case Type::kBool:
      writer->boolean(value.as_bool());
      return;
    case Type::kNumber:
      writer->raw_number(value.number_text());
      return;
    case Type::kString:
      writer->string(value.as_string());
      return;
    case Type::kArray:
      writer->begin_array();
      for (const Value& item : value.items()) write_value(item, writer);
      writer->end_array();
      return;
    case Type::kObject:
      writer->begin_object();
      for (const auto& [key, member] : value.members()) {
        writer->key(key);
        write_value(member, writer);
      }
      writer->end_object();
      return;
  }
}

std::string serialize(const Value& value) {
  Writer writer;
  write_value(value, &writer);
  EXPECT_TRUE(writer.complete());
  return writer.take();
}

const std::vector<std::string>& seeds() {
  static const std::vector<std::string> kSeeds = {
      "{\"login\":\"cashout_login\",\"pass\":\"cashout_pass\",\"cashout_id\":11954}",
      "{\"amount\":100.10,\"beneficiary_name\":\"Jos\xC3\xA9 \xC3\x91\xC3\xBA\xC3\xB1" "ez\",\"on_hold\":true}",
      "[1,-2.5e10,\"x\\n\\u00e9\\ud83d\\ude00\",null,false,{\"a\":[[],{}]}]",
      "{\"metadata\":{\"k1\":\"v1\",\"k2\":\"v2\"},\"beneficiary\":{\"email\":\"a@b.co\",\"phone\":null}}",
      " \"just a string\" ",
      "12345678901234567890.5e-3",
  };
  return kSeeds;
}

TEST(ParseFuzzTest, MutationsNeverCrashAndAcceptedDocumentsRoundTrip) {
  const uint64_t seed = testing::random_seed_for_run("ParseFuzzTest.Mutations");
  testing::SeededRandom random(seed);
  auto& engine = random.engine();
  const std::string alphabet = "{}[]:,\"\\ \n\t-+.eE0129aeflnrstuxz\x01\x7f\xC3\xA9\xFF\xE2\x82\xAC";
  int accepted = 0;
  int rejected = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text = seeds()[engine() % seeds().size()];
    const int edits = 1 + static_cast<int>(engine() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t at = engine() % (text.size() + 1);
      switch (engine() % 4) {
        case 0:  // insert
          text.insert(at, 1, alphabet[engine() % alphabet.size()]);
          break;
        case 1:  // delete
          if (at < text.size()) text.erase(at, 1);
          break;
        case 2:  // replace
          if (at < text.size()) text[at] = alphabet[engine() % alphabet.size()];
          break;
        default:  // truncate
          text.resize(at);
          break;
      }
    }
    Result<Value> parsed = parse(text);
    if (!parsed.is_ok()) {
      ++rejected;
      ASSERT_EQ(parsed.status().field(), "body");
      ASSERT_FALSE(parsed.status().message().empty());
      continue;
    }
    ++accepted;
    const std::string written = serialize(*parsed);
    Result<Value> reparsed = parse(written);
    ASSERT_TRUE(reparsed.is_ok()) << "seed " << seed << " round " << round << "\ninput: " << text
                                  << "\nwritten: " << written << "\n" << reparsed.status().message();
    ASSERT_EQ(serialize(*reparsed), written) << "seed " << seed << " round " << round;
  }
  // Both outcomes must actually occur, or the mutation mix is broken.
  EXPECT_GT(accepted, 100);
  EXPECT_GT(rejected, 1000);
}

// Deep equality: same types, same number texts, same strings, same items and members in order.
bool same_value(const Value& a, const Value& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Type::kNull:
      return true;
    case Type::kBool:
      return a.as_bool() == b.as_bool();
    case Type::kNumber:
      return a.number_text() == b.number_text();
    case Type::kString:
      return a.as_string() == b.as_string();
    case Type::kArray:
      if (a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i) {
        if (!same_value(a.items()[i], b.items()[i])) return false;
      }
      return true;
    case Type::kObject:
      if (a.members().size() != b.members().size()) return false;
      for (size_t i = 0; i < a.members().size(); ++i) {
        if (a.members()[i].first != b.members()[i].first) return false;
        if (!same_value(a.members()[i].second, b.members()[i].second)) return false;
      }
      return true;
  }
  return false;
}

// Random well-formed documents, so that a run of random bytes also meets valid input (uniform
// random bytes almost never parse). Strings are valid UTF-8 without NUL (what parse() keeps as
// written): control characters, quotes, backslashes and multi-byte characters exercise escaping.
class DocumentGenerator {
 public:
  explicit DocumentGenerator(std::mt19937_64& engine) : engine_(engine) {}

  Value value(int depth) {
    const uint64_t kind = engine_() % (depth >= 4 ? 4 : 6);
    switch (kind) {
      case 0:
        return Value::null();
      case 1:
        return Value::boolean(engine_() % 2 == 0);
      case 2:
        return Value::number(number());
      case 3:
        return Value::string(text());
      case 4: {
        std::vector<Value> items;
        for (uint64_t i = engine_() % 5; i > 0; --i) items.push_back(value(depth + 1));
        return Value::array(std::move(items));
      }
      default: {
        std::vector<Value::Member> members;
        const uint64_t count = engine_() % 5;
        for (uint64_t i = 0; i < count; ++i) {
          // Distinct keys (an object may not repeat one): a random text plus the member's index.
          members.emplace_back(text() + "#" + std::to_string(i), value(depth + 1));
        }
        return Value::object(std::move(members));
      }
    }
  }

 private:
  std::string digits(size_t min_count, size_t max_count) {
    std::string out;
    for (size_t n = min_count + engine_() % (max_count - min_count + 1); n > 0; --n) {
      out.push_back(static_cast<char>('0' + engine_() % 10));
    }
    return out;
  }

  std::string number() {
    std::string out = engine_() % 3 == 0 ? "-" : "";
    if (engine_() % 4 == 0) {
      out += "0";
    } else {
      out.push_back(static_cast<char>('1' + engine_() % 9));
      out += digits(0, 12);
    }
    if (engine_() % 2 == 0) out += "." + digits(1, 6);
    if (engine_() % 3 == 0) {
      out += engine_() % 2 == 0 ? "e" : "E";
      const uint64_t sign = engine_() % 3;
      if (sign == 1) out += "+";
      if (sign == 2) out += "-";
      out += digits(1, 3);
    }
    return out;
  }

  std::string text() {
    static const std::vector<std::string> kPieces = {
        "a", "Z", "7", " ", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f", "\x7f",
        "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "cashout_id"};
    std::string out;
    for (uint64_t n = engine_() % 8; n > 0; --n) out += kPieces[engine_() % kPieces.size()];
    return out;
  }

  std::mt19937_64& engine_;
};

TEST(ParseFuzzTest, RandomBytesNeverCrash) {
  const uint64_t seed = testing::random_seed_for_run("ParseFuzzTest.RandomBytes");
  testing::SeededRandom random(seed);
  auto& engine = random.engine();
  DocumentGenerator generator(engine);
  constexpr int kRounds = 6000;
  int accepted = 0;
  int rejected = 0;
  int generated_intact = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::string text;
    std::optional<Value> intact;  // set when `text` is a generated document left as written
    const uint64_t mode = engine() % 3;
    if (mode == 0) {  // uniform random bytes
      text.resize(engine() % 64);
      for (char& c : text) c = static_cast<char>(engine() & 0xFF);
    } else {  // a random document, in one round of two with random bytes written over it
      Value document = generator.value(0);
      text = serialize(document);
      if (mode == 1) {
        intact = std::move(document);
      } else {
        for (uint64_t n = 1 + engine() % 3; n > 0 && !text.empty(); --n) {
          text[engine() % text.size()] = static_cast<char>(engine() & 0xFF);
        }
      }
    }
    const std::string context = "seed " + std::to_string(seed) + " round " + std::to_string(round) +
                                "\ninput: " + text;
    Result<Value> parsed = parse(text);
    if (!parsed.is_ok()) {
      ++rejected;
      // parse() documents every failure as invalid_argument("body", "<precise reason>").
      ASSERT_EQ(parsed.status().kind(), ErrorKind::kInvalidArgument) << context;
      ASSERT_EQ(parsed.status().field(), "body") << context;
      ASSERT_FALSE(parsed.status().message().empty()) << context;
      ASSERT_FALSE(intact.has_value()) << context << "\nrefused: " << parsed.status().message();
      continue;
    }
    ++accepted;
    if (intact.has_value()) {
      ++generated_intact;
      ASSERT_TRUE(same_value(*parsed, *intact)) << context << "\nread back: " << serialize(*parsed);
    }
    // What parses re-serializes, and that re-parses to an equal value.
    const std::string written = serialize(*parsed);
    Result<Value> reparsed = parse(written);
    ASSERT_TRUE(reparsed.is_ok()) << context << "\nwritten: " << written << "\n" << reparsed.status().message();
    ASSERT_TRUE(same_value(*reparsed, *parsed)) << context << "\nwritten: " << written;
  }
  // Both outcomes occurred, in good numbers: the generator makes valid and invalid documents.
  // (Each mode is a third of the rounds; uniform bytes and overwritten documents mostly fail.)
  EXPECT_GT(accepted, kRounds / 5) << "seed " << seed;
  EXPECT_GT(rejected, kRounds / 5) << "seed " << seed;
  EXPECT_GT(generated_intact, kRounds / 5) << "seed " << seed;
  std::cout << "[fuzz] accepted " << accepted << ", rejected " << rejected << " of " << kRounds << std::endl;
}

// An independent oracle: Python's json module in strict mode plus payoutd's extra rules
// (duplicate keys, NUL, lone surrogates, NaN/Infinity, BOM, depth). Prints 1/0 per input line
// (inputs are hex encoded, one per line).
constexpr const char* kOracle = R"PY(
import binascii, json, sys
class Reject(Exception): pass
def no_dups(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)): raise Reject()
    return dict(pairs)
def bad_constant(name): raise Reject()
def check(v, depth):
    if isinstance(v, str):
        if '\x00' in v: raise Reject()
        v.encode('utf-8', 'strict')
    elif isinstance(v, (list, dict)):
        if depth + 1 > 32: raise Reject()
        items = v.items() if isinstance(v, dict) else enumerate(v)
        for k, x in items:
            if isinstance(k, str): check(k, depth)
            check(x, depth + 1)
for line in open(sys.argv[1]):
    raw = binascii.unhexlify(line.strip())
    try:
        text = raw.decode('utf-8', 'strict')
        v = json.loads(text, object_pairs_hook=no_dups, parse_constant=bad_constant)
        check(v, 0)
        print(1)
    except Exception:
        print(0)
)PY";

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out.push_back(kDigits[(static_cast<unsigned char>(c) >> 4) & 0x0F]);
    out.push_back(kDigits[static_cast<unsigned char>(c) & 0x0F]);
  }
  return out;
}

TEST(ParseFuzzTest, AgreesWithAnIndependentOracle) {
  std::string version;
  if (testing::run_command("python3 --version", &version) != 0) FAIL() << "python3 not available (scripts/install-deps.sh installs it)";
  const uint64_t seed = testing::random_seed_for_run("ParseFuzzTest.Oracle");
  testing::SeededRandom random(seed);
  auto& engine = random.engine();
  const std::string alphabet = "{}[]:,\"\\ \n\t-+.eE0129aeflnrstuxz\x01\x7f\xC3\xA9\xFF\xE2\x82\xAC";
  std::vector<std::string> inputs;
  for (int round = 0; round < 5000; ++round) {
    std::string text = seeds()[engine() % seeds().size()];
    const int edits = 1 + static_cast<int>(engine() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t at = engine() % (text.size() + 1);
      if (engine() % 2 == 0) {
        text.insert(at, 1, alphabet[engine() % alphabet.size()]);
      } else if (at < text.size()) {
        text.erase(at, 1);
      }
    }
    inputs.push_back(text);
  }
  // Hand-picked policy cases the mutations rarely reach.
  for (const char* extra : {"{\"a\":1,\"a\":2}", "[\"\\u0000\"]", "[\"\\ud800\"]", "[NaN]", "[-Infinity]",
                            "\xEF\xBB\xBF[]", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
                            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "1e400", "-0"}) {
    inputs.emplace_back(extra);
  }
  testing::TempDir directory;
  const std::string script_path = directory.file("oracle.py");
  const std::string input_path = directory.file("inputs.hex");
  std::ofstream(script_path) << kOracle;
  {
    std::ofstream input_file(input_path);
    for (const std::string& input : inputs) input_file << to_hex(input) << "\n";
  }
  std::string output;
  ASSERT_EQ(testing::run_command("python3 " + script_path + " " + input_path, &output, false), 0);
  ASSERT_EQ(output.size(), 2 * inputs.size());
  int accepted = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const bool oracle_accepts = output[2 * i] == '1';
    Result<Value> parsed = parse(inputs[i]);
    accepted += parsed.is_ok() ? 1 : 0;
    EXPECT_EQ(parsed.is_ok(), oracle_accepts)
        << "seed " << seed << " input #" << i << " hex " << to_hex(inputs[i]) << ": " << inputs[i]
        << (parsed.is_ok() ? std::string() : "\nours: " + parsed.status().message());
  }
  EXPECT_GT(accepted, 200);
}

}  // namespace
}  // namespace payoutd::json
