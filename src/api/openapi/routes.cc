#include "api/openapi/routes.h"

#include <string>
#include <utility>

#include "api/openapi/documents.h"
#include "http/request.h"

namespace payoutd::api::openapi {
namespace {

constexpr std::string_view kSuffix = ".json";

const Document* find_document(std::string_view file) {
  if (file.size() <= kSuffix.size() || !file.ends_with(kSuffix)) return nullptr;
  file.remove_suffix(kSuffix.size());
  for (const Document& document : documents()) {
    if (document.name == file) return &document;
  }
  return nullptr;
}

}  // namespace

void register_routes(http::Router& router) {
  router.add("GET", "/openapi/:file", "openapi_document",
             [](http::Request&& request, http::Respond respond) {
               const Document* document = find_document(request.param("file").value_or(""));
               http::Response response;
               if (document == nullptr) {
                 response.status = 404;
                 response.body = "{\"error\":\"NotFound\",\"message\":\"Document not found\"}";
                 respond(std::move(response));
                 return;
               }
               response.headers.emplace_back("ETag", std::string(document->etag));
               // The document changes only with the binary: caches revalidate (no-cache) and
               // the ETag tells them whether it changed.
               response.headers.emplace_back("Cache-Control", "no-cache");
               response.body = std::string(document->json);
               respond(std::move(response));
             });
}

}  // namespace payoutd::api::openapi
