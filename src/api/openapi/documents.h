// payoutd's OpenAPI documents (docs/openapi/*.yaml), compiled into the binary at build time
// (scripts/openapi-embed.py writes documents.cc into the build tree), so what `serve` answers on
// GET /openapi/<name>.json is what is in docs/ for this build.
#pragma once

#include <span>
#include <string_view>

namespace payoutd::api::openapi {

struct Document {
  std::string_view name;  // "cashouts-v3", "payouts-v1", "operations"
  std::string_view json;  // the YAML document as compact JSON, key order kept
  std::string_view etag;  // "\"<sha-256 of json, hex>\"": a strong ETag
};

// Every document, in a fixed order. The storage is static; the views never dangle.
std::span<const Document> documents();

}  // namespace payoutd::api::openapi
