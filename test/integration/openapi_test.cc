// GET /openapi/<name>.json (docs/openapi/operations.yaml): the OpenAPI documents compiled into the
// binary are served without credentials, as JSON, with a strong ETag of their body; they are the
// documents of docs/openapi/ (each served path is a path of the YAML file of the same name; the
// contract test, scripts/contract-test.sh, compares them in full with the YAML). Other names are
// 404 in the default error shape, and nothing is written to the database.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "crypto/hash.h"
#include "integration/harness.h"
#include "json/value.h"

namespace payoutd::testing {
namespace {

std::string source_file(const std::string& relative) {
  const char* source = std::getenv("PAYOUTD_SOURCE_DIR");
  EXPECT_TRUE(source != nullptr && *source) << "PAYOUTD_SOURCE_DIR is not set (CTest sets it)";
  std::ifstream file(std::string(source != nullptr ? source : ".") + "/" + relative,
                     std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

HttpResponse get(int port, const std::string& path) {
  HttpClient client(port);
  return client.request("GET", path, "", {}, /*close=*/true).value_or(HttpResponse{});
}

TEST(OpenApiDocumentsTest, EachDocumentIsServedAsJsonWithItsEtagAndTheYamlsPaths) {
  Sandbox sandbox;
  ServerProcess server(sandbox);
  ASSERT_TRUE(server.started()) << server.log();
  const std::string before = sandbox.snapshot();

  // The title each document must carry, and a path each must describe.
  const struct {
    std::string name;
    std::string title;
    std::string path;
  } kDocuments[] = {
      {"cashouts-v3", "payoutd Cashouts API v3 (D24 family)", "/v3/cashout/cancel"},
      {"payouts-v1", "payoutd Payouts REST API v1", "/api/v1/payouts"},
      {"operations", "payoutd operational endpoints", "/openapi/{file}"},
  };
  for (const auto& expected : kDocuments) {
    SCOPED_TRACE(expected.name);
    HttpResponse response = get(server.port(), "/openapi/" + expected.name + ".json");
    ASSERT_EQ(response.status, 200) << response.body.substr(0, 200);
    EXPECT_EQ(response.header("content-type"), std::optional<std::string>("application/json"));
    EXPECT_EQ(response.header("cache-control"), std::optional<std::string>("no-cache"));
    EXPECT_EQ(response.header("etag"),
              std::optional<std::string>("\"" + crypto::hex_lower(crypto::sha256(response.body)) +
                                         "\""));

    json::ParseLimits limits;
    limits.max_bytes = 4 * 1024 * 1024;
    limits.max_depth = 64;
    limits.max_members = 4096;
    Result<json::Value> document = json::parse(response.body, limits);
    ASSERT_TRUE(document.is_ok()) << document.status().to_string();
    const json::Value* openapi = document->find("openapi");
    ASSERT_TRUE(openapi != nullptr && openapi->is_string());
    EXPECT_EQ(openapi->as_string(), "3.0.3");
    const json::Value* info = document->find("info");
    ASSERT_TRUE(info != nullptr && info->find("title") != nullptr);
    EXPECT_EQ(info->find("title")->as_string(), expected.title);

    // Every path served is a path of docs/openapi/<name>.yaml (a key at two spaces' indent under
    // `paths:`), and the YAML has no path the served document lacks.
    const std::string yaml = source_file("docs/openapi/" + expected.name + ".yaml");
    ASSERT_FALSE(yaml.empty());
    const json::Value* paths = document->find("paths");
    ASSERT_TRUE(paths != nullptr && paths->is_object());
    bool has_expected_path = false;
    for (const json::Value::Member& member : paths->members()) {
      EXPECT_NE(yaml.find("\n  " + member.first + ":\n"), std::string::npos) << member.first;
      if (member.first == expected.path) has_expected_path = true;
    }
    EXPECT_TRUE(has_expected_path) << expected.path;
    // The YAML's paths: the keys at two spaces' indent from `paths:` to the next top-level key.
    const size_t paths_at = yaml.find("\npaths:\n");
    ASSERT_NE(paths_at, std::string::npos);
    size_t paths_end = paths_at + 1;
    do {
      paths_end = yaml.find('\n', paths_end + 1);
    } while (paths_end != std::string::npos && paths_end + 1 < yaml.size() &&
             (yaml[paths_end + 1] == ' ' || yaml[paths_end + 1] == '\n' ||
              yaml[paths_end + 1] == '#'));
    size_t yaml_paths = 0;
    for (size_t at = yaml.find("\n  /", paths_at); at != std::string::npos && at < paths_end;
         at = yaml.find("\n  /", at + 1)) {
      ++yaml_paths;
    }
    EXPECT_EQ(paths->members().size(), yaml_paths);
  }

  // Not a document: 404 in the default error shape; a different extension or none is not one.
  for (const std::string path : {"/openapi/nope.json", "/openapi/cashouts-v3.yaml",
                                 "/openapi/cashouts-v3", "/openapi/.json", "/openapi/"}) {
    SCOPED_TRACE(path);
    HttpResponse response = get(server.port(), path);
    EXPECT_EQ(response.status, 404);
    EXPECT_NE(response.body.find("\"error\":\"NotFound\""), std::string::npos) << response.body;
  }
  HttpResponse post = [&] {
    HttpClient client(server.port());
    return client.request("POST", "/openapi/operations.json", "{}", {}, /*close=*/true)
        .value_or(HttpResponse{});
  }();
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("allow"), std::optional<std::string>("GET"));

  EXPECT_EQ(sandbox.snapshot(), before) << "serving a document changed the database";
}

}  // namespace
}  // namespace payoutd::testing
