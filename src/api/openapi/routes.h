// GET /openapi/<name>.json: the OpenAPI documents (documents.h), no authentication; the
// operations document describes this route (docs/openapi/operations.yaml).
#pragma once

#include "http/router.h"

namespace payoutd::api::openapi {

void register_routes(http::Router& router);

}  // namespace payoutd::api::openapi
