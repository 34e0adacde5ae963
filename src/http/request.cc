#include "http/request.h"

#include <cstdint>

namespace payoutd::http {
namespace {

int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view error_name(int status) {
  switch (status) {
    case 400: return "BadRequest";
    case 401: return "UnauthorizedAccess";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 408: return "RequestTimeout";
    case 409: return "Conflict";
    case 413: return "PayloadTooLarge";
    case 429: return "TooManyRequests";
    case 431: return "RequestHeaderFieldsTooLarge";
    case 500: return "InternalServerError";
    case 503: return "ServiceUnavailable";
    default: return status >= 500 ? "InternalServerError" : "BadRequest";
  }
}

std::string_view error_message(int status) {
  switch (status) {
    case 400: return "Malformed request";
    case 401: return "Authentication required";
    case 403: return "Forbidden";
    case 404: return "Route not found";
    case 405: return "Method not allowed";
    case 408: return "Request timeout";
    case 409: return "Conflict";
    case 413: return "Request body too large";
    case 429: return "Too many requests";
    case 431: return "Request header fields too large";
    case 500: return "Internal server error";
    case 503: return "Service unavailable";
    default: return status >= 500 ? "Internal server error" : "Bad request";
  }
}

}  // namespace

std::optional<std::string_view> Request::header(std::string_view lowercase_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lowercase_name) return std::string_view(value);
  }
  return std::nullopt;
}

std::optional<std::string_view> Request::param(std::string_view name) const {
  for (const auto& [param_name, value] : params) {
    if (param_name == name) return std::string_view(value);
  }
  return std::nullopt;
}

Response default_error_response(int status, std::string_view /*path*/) {
  Response response;
  response.status = status;
  response.body = "{\"error\":\"";
  response.body += error_name(status);
  response.body += "\",\"message\":\"";
  response.body += error_message(status);
  response.body += "\"}";
  return response;
}

Result<std::string> percent_decode(std::string_view text, bool plus_as_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (text.size() - i < 3) {
        return Status::error(ErrorKind::kInvalidArgument, "truncated percent escape");
      }
      const int high = hex_digit_value(text[i + 1]);
      const int low = hex_digit_value(text[i + 2]);
      if (high < 0 || low < 0) {
        return Status::error(ErrorKind::kInvalidArgument, "invalid percent escape");
      }
      out.push_back(static_cast<char>(static_cast<uint8_t>(high * 16 + low)));
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<NameValueList> parse_query(std::string_view query) {
  NameValueList out;
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view piece = query.substr(start, end - start);
    if (!piece.empty()) {
      const size_t equals = piece.find('=');
      const std::string_view raw_name = piece.substr(0, equals);
      const std::string_view raw_value =
          equals == std::string_view::npos ? std::string_view() : piece.substr(equals + 1);
      Result<std::string> name = percent_decode(raw_name, /*plus_as_space=*/true);
      if (!name.is_ok()) return Status::invalid_argument("query", name.status().message());
      Result<std::string> value = percent_decode(raw_value, /*plus_as_space=*/true);
      if (!value.is_ok()) return Status::invalid_argument("query", value.status().message());
      out.emplace_back(std::move(name).value(), std::move(value).value());
    }
    start = end + 1;
  }
  return out;
}

void append_json_escaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char c : text) {
    const auto byte = static_cast<uint8_t>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (byte < 0x20 || byte >= 0x7f) {
          out += "\\u00";
          out.push_back(kHex[byte >> 4]);
          out.push_back(kHex[byte & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
}

}  // namespace payoutd::http
