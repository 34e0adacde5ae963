// Randomized robustness: mutated documents never crash the parser (run under ASan/UBSan), and
// whatever it accepts survives a Writer round trip unchanged.
#include <gtest/gtest.h>

#include <fstream>
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

TEST(ParseFuzzTest, RandomBytesNeverCrash) {
  const uint64_t seed = testing::random_seed_for_run("ParseFuzzTest.RandomBytes");
  testing::SeededRandom random(seed);
  for (int round = 0; round < 5000; ++round) {
    std::string text(random.engine()() % 64, '\0');
    for (char& c : text) c = static_cast<char>(random.engine()() & 0xFF);
    (void)parse(text);
  }
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
