// The v3 control field against the shared vectors, the v1 signature header against a value computed
// independently with openssl, and form encoding.
#include "notify/signatures.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "json/value.h"
#include "support/test_support.h"

namespace payoutd::notify {
namespace {

struct ControlVector {
  std::string key;
  std::string external_id;
  std::string control;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

std::string string_member(const json::Value& object, std::string_view name) {
  const json::Value* member = object.find(name);
  EXPECT_TRUE(member != nullptr && member->is_string()) << name;
  if (member == nullptr || !member->is_string()) return "";
  return member->as_string();
}

// PAYOUTD_SHARED_DIR when set (CTest sets it), else ../shared next to the source tree, so that the
// binary also passes when run by hand from any directory.
std::string shared_dir() {
  if (std::getenv("PAYOUTD_SHARED_DIR") != nullptr) return testing::shared_dir();
  return PAYOUTD_DEFAULT_SHARED_DIR;
}

// ../shared/vectors/signatures.json, read with our own JSON parser.
std::vector<ControlVector> load_control_vectors() {
  const std::string path = shared_dir() + "/vectors/signatures.json";
  const std::string text = read_file(path);
  EXPECT_FALSE(text.empty()) << "cannot read " << path;
  Result<json::Value> root = json::parse(text);
  EXPECT_TRUE(root.is_ok()) << (root.is_ok() ? "" : root.status().message());
  std::vector<ControlVector> vectors;
  if (!root.is_ok()) return vectors;
  const json::Value* control = root->find("notification_control");
  EXPECT_TRUE(control != nullptr && control->is_array());
  if (control == nullptr || !control->is_array()) return vectors;
  for (const json::Value& item : control->items()) {
    vectors.push_back({string_member(item, "key"), string_member(item, "external_id"), string_member(item, "control")});
  }
  return vectors;
}

TEST(V3ControlTest, MatchesTheSharedVectors) {
  const std::vector<ControlVector> vectors = load_control_vectors();
  ASSERT_EQ(vectors.size(), 2u);
  for (const ControlVector& vector : vectors) {
    SCOPED_TRACE(vector.external_id);
    EXPECT_EQ(v3_control(vector.key, vector.external_id), vector.control);
  }
}

TEST(V3ControlTest, IsUpperCaseHexOfTheWholeMessage) {
  // printf '%s' 'Be4cashoutID1234Bo7' | openssl dgst -sha256 -hmac your_cashout_api_signature
  // (lower-case output, upper-cased here): the same as the first shared vector, computed again.
  EXPECT_EQ(v3_control("your_cashout_api_signature", "cashoutID1234"),
            "DDD345FB66A8053FBB69E0DBCACFDE5F63CA05140C3A2C446B7A0E4118F8BA1D");
  const std::string control = v3_control("k", "x");
  EXPECT_EQ(control.size(), 64u);
  for (char c : control) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')) << control;
  // Key, external id and the fixed affixes all matter.
  EXPECT_NE(v3_control("k", "x"), v3_control("K", "x"));
  EXPECT_NE(v3_control("k", "x"), v3_control("k", "X"));
  EXPECT_NE(v3_control("k", "Be4x"), v3_control("k", "x"));
}

TEST(V1SignatureHeaderTest, MatchesOpensslComputedIndependently) {
  // Computed with:
  //   printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
  //   SHA2-256(stdin)= 38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789
  EXPECT_EQ(v1_signature_header("whsec_test", 1700000000, R"({"a":1})"),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
  // printf '%s' '1700000000.' | openssl dgst -sha256 -hmac whsec_test  (an empty body)
  EXPECT_EQ(v1_signature_header("whsec_test", 1700000000, ""),
            "t=1700000000,v1=5967f3c560522fa40cf2876ebc3c3a08551dd6959aaade3b413460591895bdcc");
}

TEST(V1SignatureHeaderTest, TimestampIsSigned) {
  const std::string at_one = v1_signature_header("s", 1, "{}");
  const std::string at_two = v1_signature_header("s", 2, "{}");
  EXPECT_EQ(at_one.substr(0, 7), "t=1,v1=");
  EXPECT_EQ(at_two.substr(0, 7), "t=2,v1=");
  EXPECT_NE(at_one.substr(7), at_two.substr(7));
  EXPECT_EQ(at_one.size(), 7u + 64u);
}

TEST(FormEncodeTest, EncodesLikeAForm) {
  using Fields = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(form_encode({}), "");
  EXPECT_EQ(form_encode(Fields{{"a", "b"}}), "a=b");
  EXPECT_EQ(form_encode(Fields{{"comments", "two words"}}), "comments=two+words");
  EXPECT_EQ(form_encode(Fields{{"q", "a&b=c+d"}}), "q=a%26b%3Dc%2Bd");
  EXPECT_EQ(form_encode(Fields{{"name", "Jos\xc3\xa9 \xc3\x91"}}), "name=Jos%C3%A9+%C3%91");
  EXPECT_EQ(form_encode(Fields{{"kept", "AZaz09-._*"}}), "kept=AZaz09-._*");
  EXPECT_EQ(form_encode(Fields{{"others", "~!'()/%?#:;\n"}}), "others=%7E%21%27%28%29%2F%25%3F%23%3A%3B%0A");
  EXPECT_EQ(form_encode(Fields{{"nul", std::string("a\0b", 3)}}), "nul=a%00b");
  // Names are encoded too, and empty values stay as "name=".
  EXPECT_EQ(form_encode(Fields{{"a b", "x"}, {"empty", ""}, {"", "v"}}), "a+b=x&empty=&=v");
}

TEST(FormEncodeTest, KeepsTheGivenOrder) {
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"date", "2024-01-02 03:04:05"}, {"bank_reference_id", ""},  {"comments", "Pago & devolución"},
      {"external_id", "ext-1"},         {"control", "ABC123"},      {"cashout_id", "42"},
      {"status_reason", ""},
  };
  EXPECT_EQ(form_encode(fields),
            "date=2024-01-02+03%3A04%3A05&bank_reference_id=&comments=Pago+%26+devoluci%C3%B3n&external_id=ext-1"
            "&control=ABC123&cashout_id=42&status_reason=");
}

}  // namespace
}  // namespace payoutd::notify
