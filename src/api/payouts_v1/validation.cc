#include "api/payouts_v1/validation.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "core/money.h"
#include "core/payout_status.h"
#include "core/text.h"
#include "core/time_format.h"
#include "crypto/hash.h"
#include "http/request.h"
#include "json/value.h"
#include "json/writer.h"

namespace payoutd::api::payouts_v1 {
namespace {

constexpr size_t kMaxPhoneChars = 30;
constexpr size_t kMaxSearchChars = 254;
// Deepest page a listing may ask for; (page - 1) * limit stays far below the store's bound.
constexpr int kMaxPage = 1'000'000;

bool is_blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t'; });
}

// Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF). The JSON parser already
// guarantees it for bodies; query parameters are percent-decoded bytes and need the check.
bool is_valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto byte = static_cast<unsigned char>(text[i + k]);
      const unsigned char min = k == 1 ? low : 0x80;
      const unsigned char max = k == 1 ? high : 0xBF;
      if (byte < min || byte > max) return false;
    }
    i += length;
  }
  return true;
}

// A JSON number token that is a positive integer fitting int64 (no sign, fraction or exponent).
std::optional<int64_t> positive_integer_token(const json::Value& value) {
  if (!value.is_number()) return std::nullopt;
  return parse_positive_id(value.number_text());
}

class Collector {
 public:
  void add(std::string field, std::string message) {
    errors_.push_back(FieldError{std::move(field), std::move(message)});
  }
  bool empty() const { return errors_.empty(); }
  std::vector<FieldError> take() { return std::move(errors_); }

 private:
  std::vector<FieldError> errors_;
};

// A required or optional string member. Absent and null are "missing"; other types are refused.
// Returns the text when present and a string; records errors otherwise.
std::optional<std::string> string_member(const json::Value& object, std::string_view key,
                                         const std::string& field, bool required,
                                         Collector& errors) {
  const json::Value* value = object.find(key);
  if (value == nullptr || value->is_null()) {
    if (required) errors.add(field, field + " is required");
    return std::nullopt;
  }
  if (!value->is_string()) {
    errors.add(field, field + " must be a string");
    return std::nullopt;
  }
  return value->as_string();
}

// Checks a human text field: 1..max_chars code points, not blank, no control characters.
bool check_text(const std::string& text, const std::string& field, size_t max_chars,
                Collector& errors) {
  const size_t length = utf8_length(text);
  if (length == 0 || is_blank(text)) {
    errors.add(field, field + " must not be empty");
    return false;
  }
  if (length > max_chars) {
    errors.add(field, field + " must be at most " + std::to_string(max_chars) + " characters");
    return false;
  }
  if (has_ascii_control(text)) {
    errors.add(field, field + " must not contain control characters");
    return false;
  }
  return true;
}

bool is_email(std::string_view text) {
  if (text.size() > kMaxEmailChars) return false;
  const size_t at = text.find('@');
  if (at == std::string_view::npos || at == 0 || at > 64) return false;
  if (text.find('@', at + 1) != std::string_view::npos) return false;
  const std::string_view domain = text.substr(at + 1);
  if (domain.empty() || domain.front() == '.' || domain.back() == '.') return false;
  if (domain.find('.') == std::string_view::npos || domain.find("..") != std::string_view::npos) {
    return false;
  }
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7F || c == ',' || c == ';' || c == '<' || c == '>' ||
        c == '(' || c == ')' || c == '[' || c == ']' || c == '\\' || c == '"') {
      return false;
    }
  }
  return true;
}

bool is_phone(std::string_view text) {
  if (text.empty() || text.size() > kMaxPhoneChars) return false;
  bool digit = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c == '+') {
      if (i != 0) return false;
    } else if (c != ' ' && c != '-' && c != '(' && c != ')' && c != '.') {
      return false;
    }
  }
  return digit;
}

// Fills the beneficiary from either form. `source` is the beneficiary object (object form, member
// names without prefix, fields reported as "beneficiary.email") or the body itself (flat form,
// members and fields "beneficiary_email").
void read_beneficiary(const json::Value& source, std::string_view key_prefix,
                      const std::string& field_prefix, Beneficiary& out, Collector& errors) {
  auto field = [&](std::string_view name) { return field_prefix + std::string(name); };
  auto key = [&](std::string_view name) { return std::string(key_prefix) + std::string(name); };

  if (auto email = string_member(source, key("email"), field("email"), true, errors)) {
    if (!is_email(*email)) {
      errors.add(field("email"), field("email") + " must be a valid e-mail address");
    } else {
      out.email = std::move(*email);
    }
  }
  for (std::string_view name : {std::string_view("first_name"), std::string_view("last_name")}) {
    if (auto text = string_member(source, key(name), field(name), true, errors)) {
      if (check_text(*text, field(name), kMaxNameChars, errors)) {
        (name == "first_name" ? out.first_name : out.last_name) = std::move(*text);
      }
    }
  }
  if (auto country = string_member(source, key("country"), field("country"), false, errors)) {
    if (country->size() != 2 || !is_known_country(*country)) {
      errors.add(field("country"),
                 field("country") + " must be an ISO 3166-1 alpha-2 country code (upper case)");
    } else {
      out.country = std::move(*country);
    }
  }
  if (auto phone = string_member(source, key("phone"), field("phone"), false, errors)) {
    if (!is_phone(*phone)) {
      errors.add(field("phone"), field("phone") +
                                     " must be up to 30 characters of digits, spaces and +-().");
    } else {
      out.phone = std::move(*phone);
    }
  }
}

void read_identifiers(const json::Value& body, Beneficiary& out, Collector& errors) {
  const json::Value* identifiers = body.find("beneficiary_identifiers");
  if (identifiers == nullptr || identifiers->is_null()) return;
  if (!identifiers->is_object()) {
    errors.add("beneficiary_identifiers", "beneficiary_identifiers must be an object");
    return;
  }
  const std::pair<std::string_view, std::optional<std::string> Beneficiary::*> known[] = {
      {"account_number", &Beneficiary::bank_account},
      {"routing_number", &Beneficiary::routing_number},
      {"bank_code", &Beneficiary::bank_code},
      {"bank_branch", &Beneficiary::bank_branch},
      {"account_type", &Beneficiary::account_type},
      {"document_id", &Beneficiary::document_id},
      {"document_type", &Beneficiary::document_type},
  };
  for (const auto& [name, value] : identifiers->members()) {
    const std::string field = "beneficiary_identifiers." + name;
    auto match = std::find_if(std::begin(known), std::end(known),
                              [&](const auto& entry) { return entry.first == name; });
    if (match == std::end(known)) {
      errors.add(field, field + " is not a known identifier");
      continue;
    }
    if (value.is_null()) continue;
    if (!value.is_string()) {
      errors.add(field, field + " must be a string");
      continue;
    }
    if (check_text(value.as_string(), field, kMaxIdentifierChars, errors)) {
      out.*(match->second) = value.as_string();
    }
  }
}

// Validates the metadata object and returns its canonical stored text (members in source order).
std::optional<std::string> read_metadata(const json::Value& body, Collector& errors) {
  const json::Value* metadata = body.find("metadata");
  if (metadata == nullptr || metadata->is_null()) return std::string("{}");
  if (!metadata->is_object()) {
    errors.add("metadata", "metadata must be an object");
    return std::nullopt;
  }
  if (metadata->members().size() > kMaxMetadataKeys) {
    errors.add("metadata", "metadata must have at most 50 keys");
    return std::nullopt;
  }
  bool ok = true;
  json::Writer writer;
  writer.begin_object();
  for (const auto& [name, value] : metadata->members()) {
    const std::string field = "metadata." + name;
    const size_t key_length = utf8_length(name);
    if (key_length == 0 || key_length > kMaxMetadataKeyChars || has_ascii_control(name)) {
      errors.add("metadata", "metadata keys must be 1 to 100 characters without control characters");
      ok = false;
      continue;
    }
    writer.key(name);
    switch (value.type()) {
      case json::Type::kString:
        if (utf8_length(value.as_string()) > kMaxMetadataValueChars) {
          errors.add(field, field + " must be at most 500 characters");
          ok = false;
        }
        writer.string(value.as_string());
        break;
      case json::Type::kNumber:
        if (value.number_text().size() > kMaxMetadataValueChars) {
          errors.add(field, field + " must be at most 500 characters");
          ok = false;
        }
        writer.raw_number(value.number_text());
        break;
      case json::Type::kBool:
        writer.boolean(value.as_bool());
        break;
      case json::Type::kNull:
        writer.null();
        break;
      case json::Type::kArray:
      case json::Type::kObject:
        errors.add(field, field + " must be a string, number, boolean or null");
        writer.null();
        ok = false;
        break;
    }
  }
  writer.end_object();
  if (!ok) return std::nullopt;
  return writer.take();
}

// Canonical metadata for the fingerprint: keys sorted (byte order), values as stored.
void write_sorted_metadata(json::Writer& writer, const std::string& metadata_json) {
  Result<json::Value> parsed = json::parse(metadata_json);
  writer.begin_object();
  if (parsed.is_ok() && parsed->is_object()) {
    std::vector<const json::Value::Member*> members;
    for (const auto& member : parsed->members()) members.push_back(&member);
    std::sort(members.begin(), members.end(),
              [](const auto* a, const auto* b) { return a->first < b->first; });
    for (const auto* member : members) {
      writer.key(member->first);
      const json::Value& value = member->second;
      switch (value.type()) {
        case json::Type::kString:
          writer.string(value.as_string());
          break;
        case json::Type::kNumber:
          writer.raw_number(value.number_text());
          break;
        case json::Type::kBool:
          writer.boolean(value.as_bool());
          break;
        case json::Type::kNull:
        case json::Type::kArray:
        case json::Type::kObject:
          writer.null();  // validation allows only scalars
          break;
      }
    }
  }
  writer.end_object();
}

// ---- Query strings ----

class QueryReader {
 public:
  // Parses and decodes; duplicate known names and malformed escapes are errors.
  QueryReader(std::string_view query_string, std::initializer_list<std::string_view> known,
              Collector& errors)
      : errors_(errors) {
    Result<http::NameValueList> parsed = http::parse_query(query_string);
    if (!parsed.is_ok()) {
      errors_.add("query", "malformed percent-encoding in the query string");
      return;
    }
    for (auto& [name, value] : *parsed) {
      if (std::find(known.begin(), known.end(), name) == known.end()) continue;  // ignored
      if (value.empty()) continue;  // "status=" is the same as no status filter
      if (std::any_of(values_.begin(), values_.end(),
                      [&](const auto& entry) { return entry.first == name; })) {
        errors_.add(name, name + " is given more than once");
        continue;
      }
      values_.emplace_back(std::move(name), std::move(value));
    }
  }

  std::optional<std::string> get(std::string_view name) const {
    for (const auto& [key, value] : values_) {
      if (key == name) return value;
    }
    return std::nullopt;
  }

  // A free-text filter: valid UTF-8, no control characters, 1..max_chars.
  std::optional<std::string> text(std::string_view name, size_t max_chars) {
    std::optional<std::string> value = get(name);
    if (!value) return std::nullopt;
    const std::string field(name);
    if (!is_valid_utf8(*value) || has_ascii_control(*value)) {
      errors_.add(field, field + " must be UTF-8 text without control characters");
      return std::nullopt;
    }
    if (utf8_length(*value) > max_chars) {
      errors_.add(field, field + " must be at most " + std::to_string(max_chars) + " characters");
      return std::nullopt;
    }
    return value;
  }

  // page (>= 1) and limit (1..kMaxListLimit).
  void paging(int& page, int& limit) {
    page = 1;
    limit = kDefaultListLimit;
    if (auto text_value = get("page")) {
      std::optional<int64_t> number = parse_positive_id(*text_value);
      if (!number || *number > kMaxPage) {
        errors_.add("page", "page must be an integer between 1 and 1000000");
      } else {
        page = static_cast<int>(*number);
      }
    }
    if (auto text_value = get("limit")) {
      std::optional<int64_t> number = parse_positive_id(*text_value);
      if (!number || *number > kMaxListLimit) {
        errors_.add("limit", "limit must be an integer between 1 and 100");
      } else {
        limit = static_cast<int>(*number);
      }
    }
  }

  std::optional<std::string> currency() {
    std::optional<std::string> value = get("currency");
    if (!value) return std::nullopt;
    if (find_currency(*value) == nullptr) {
      errors_.add("currency", "currency must be an ISO 4217 code such as USD");
      return std::nullopt;
    }
    return value;
  }

 private:
  Collector& errors_;
  http::NameValueList values_;
};

std::string upper(std::string text) {
  for (char& c : text) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return text;
}

template <typename T>
Validated<T> finish(std::optional<T> value, Collector& errors) {
  Validated<T> out;
  if (!errors.empty()) {
    out.errors = errors.take();
    return out;
  }
  out.value = std::move(value);
  return out;
}

}  // namespace

size_t utf8_length(std::string_view text) {
  size_t count = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++count;
  }
  return count;
}

std::optional<int64_t> parse_positive_id(std::string_view text) {
  if (text.empty() || text.size() > 19 || text.front() == '0') return std::nullopt;
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value <= 0) return std::nullopt;
  return value;
}

namespace {

// The JSON object a request body must be; nullopt with `body_error` set otherwise.
std::optional<json::Value> parse_object_body(std::string_view body, std::string& body_error) {
  Result<json::Value> parsed = json::parse(body);
  if (!parsed.is_ok()) {
    body_error = "Invalid JSON body: " + parsed.status().message();
    return std::nullopt;
  }
  if (!parsed->is_object()) {
    body_error = "Request body must be a JSON object";
    return std::nullopt;
  }
  return std::move(parsed).value();
}

}  // namespace

Validated<commands::CreatePayoutInput> parse_create_request(std::string_view body,
                                                            int64_t merchant_id) {
  Validated<commands::CreatePayoutInput> out;
  std::optional<json::Value> parsed = parse_object_body(body, out.body_error);
  if (!parsed) return out;
  const json::Value& object = *parsed;
  Collector errors;
  commands::CreatePayoutInput input;
  input.merchant_id = merchant_id;
  input.actor = Actor::kClient;

  if (auto reference = string_member(object, "reference_id", "reference_id", true, errors)) {
    if (reference->empty() || is_blank(*reference)) {
      errors.add("reference_id", "reference_id must not be empty");
    } else if (reference->size() > kMaxReferenceIdBytes) {
      errors.add("reference_id", "reference_id must be at most 100 bytes");
    } else if (has_ascii_control(*reference)) {
      errors.add("reference_id", "reference_id must not contain control characters");
    } else {
      input.external_id = std::move(*reference);
    }
  }

  const json::Value* wallet = object.find("wallet_id");
  if (wallet == nullptr || wallet->is_null()) {
    errors.add("wallet_id", "wallet_id is required");
  } else if (std::optional<int64_t> id = positive_integer_token(*wallet)) {
    input.wallet_id = *id;
  } else {
    errors.add("wallet_id", "wallet_id must be a positive integer");
  }

  const Currency* currency = nullptr;
  if (auto code = string_member(object, "currency", "currency", true, errors)) {
    currency = find_currency(*code);
    if (currency == nullptr) {
      errors.add("currency", "currency must be an ISO 4217 code such as USD");
    } else {
      input.currency = std::move(*code);
    }
  }

  const json::Value* amount = object.find("amount");
  if (amount == nullptr || amount->is_null()) {
    errors.add("amount", "amount is required");
  } else if (!amount->is_number() && !amount->is_string()) {
    errors.add("amount", "amount must be a number");
  } else if (currency != nullptr) {
    const std::string& text = amount->is_number() ? amount->number_text() : amount->as_string();
    Result<int64_t> minor = parse_amount(text, *currency);
    if (minor.is_ok()) {
      input.amount_minor = *minor;
    } else {
      errors.add("amount", minor.status().message());
    }
  }
  // (With an invalid currency the amount cannot be checked yet; the currency error says why.)

  const json::Value* beneficiary = object.find("beneficiary");
  bool any_flat = false;
  for (std::string_view key : {"beneficiary_email", "beneficiary_first_name",
                               "beneficiary_last_name", "beneficiary_country",
                               "beneficiary_phone"}) {
    const json::Value* flat = object.find(key);
    any_flat = any_flat || (flat != nullptr && !flat->is_null());
  }
  if (beneficiary != nullptr && !beneficiary->is_null()) {
    if (any_flat) {
      errors.add("beneficiary",
                 "give the beneficiary either as an object or as beneficiary_* fields, not both");
    } else if (!beneficiary->is_object()) {
      errors.add("beneficiary", "beneficiary must be an object");
    } else {
      read_beneficiary(*beneficiary, "", "beneficiary.", input.beneficiary, errors);
    }
  } else {
    read_beneficiary(object, "beneficiary_", "beneficiary_", input.beneficiary, errors);
  }
  input.country = input.beneficiary.country.value_or("");
  read_identifiers(object, input.beneficiary, errors);

  if (auto description = string_member(object, "description", "description", false, errors)) {
    if (utf8_length(*description) > kMaxDescriptionChars) {
      errors.add("description", "description must be at most 255 characters");
    } else if (has_ascii_control(*description)) {
      errors.add("description", "description must not contain control characters");
    } else {
      input.description = std::move(*description);
    }
  }

  if (std::optional<std::string> metadata = read_metadata(object, errors)) {
    input.metadata_json = std::move(*metadata);
  }

  if (!errors.empty()) {
    out.errors = errors.take();
    return out;
  }
  input.request_fingerprint = request_fingerprint(input);
  out.value = std::move(input);
  return out;
}

std::string request_fingerprint(const commands::CreatePayoutInput& input) {
  const Beneficiary& b = input.beneficiary;
  json::Writer writer;
  writer.begin_object();
  writer.key("v");
  writer.integer(1);  // version of this serialization
  writer.key("reference_id");
  writer.string(input.external_id);
  writer.key("wallet_id");
  if (input.wallet_id) {
    writer.integer(*input.wallet_id);
  } else {
    writer.null();
  }
  writer.key("amount_minor");
  writer.integer(input.amount_minor);
  writer.key("currency");
  writer.string(input.currency);
  const std::pair<std::string_view, const std::optional<std::string>*> fields[] = {
      {"email", &b.email},
      {"first_name", &b.first_name},
      {"last_name", &b.last_name},
      {"country", &b.country},
      {"phone", &b.phone},
      {"account_number", &b.bank_account},
      {"routing_number", &b.routing_number},
      {"bank_code", &b.bank_code},
      {"bank_branch", &b.bank_branch},
      {"account_type", &b.account_type},
      {"document_id", &b.document_id},
      {"document_type", &b.document_type},
  };
  for (const auto& [name, value] : fields) {
    writer.key(name);
    writer.string_or_null(*value);
  }
  writer.key("description");
  writer.string_or_null(input.description);
  writer.key("metadata");
  write_sorted_metadata(writer, input.metadata_json);
  writer.end_object();
  return crypto::hex_lower(crypto::sha256(writer.output()));
}

std::optional<FieldError> check_idempotency_key(std::string_view key) {
  if (key.size() < kMinIdempotencyKeyChars || key.size() > kMaxIdempotencyKeyChars) {
    return FieldError{"Idempotency-Key", "Idempotency-Key must be 8 to 256 characters"};
  }
  for (char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7F) {
      return FieldError{"Idempotency-Key",
                        "Idempotency-Key must be printable ASCII without spaces"};
    }
  }
  return std::nullopt;
}

Validated<BulkCancelRequest> parse_bulk_cancel_request(std::string_view body) {
  Validated<BulkCancelRequest> out;
  std::optional<json::Value> parsed = parse_object_body(body, out.body_error);
  if (!parsed) return out;
  Collector errors;
  BulkCancelRequest request;
  const json::Value* ids = parsed->find("ids");
  const json::Value* status = parsed->find("status");
  const bool has_ids = ids != nullptr && !ids->is_null();
  const bool has_status = status != nullptr && !status->is_null();
  if (has_ids == has_status) {
    errors.add("ids", "give either ids (1 to 100 payout ids) or status, not both");
    return finish<BulkCancelRequest>(std::nullopt, errors);
  }
  if (has_ids) {
    if (!ids->is_array()) {
      errors.add("ids", "ids must be an array of payout ids");
    } else if (ids->items().empty() || ids->items().size() > kMaxBulkIds) {
      errors.add("ids", "ids must hold 1 to 100 payout ids");
    } else {
      for (size_t i = 0; i < ids->items().size(); ++i) {
        const json::Value& id = ids->items()[i];
        if (!id.is_string() || id.as_string().empty()) {
          errors.add("ids[" + std::to_string(i) + "]", "each id must be a non-empty string");
          continue;
        }
        request.ids.push_back(id.as_string());
      }
    }
  } else {
    std::array<bool, kPayoutStatusCount> selected{};
    if (!status->is_string() || !v1_status_filter(status->as_string(), selected)) {
      errors.add("status", "status must be one of created, queued, processing, settling, "
                           "action_required, completed, failed, cancelled, expired");
    } else {
      request.statuses = selected;
    }
  }
  return finish<BulkCancelRequest>(std::move(request), errors);
}

Validated<PayoutListRequest> parse_payout_list_query(std::string_view query_string,
                                                     int64_t merchant_id) {
  Collector errors;
  QueryReader reader(query_string,
                     {"page", "limit", "status", "currency", "reference_id", "search",
                      "created_from", "created_to", "client_id", "sort_by", "sort_order"},
                     errors);
  PayoutListRequest request;
  PayoutQuery& query = request.query;
  query.merchant_id = merchant_id;
  reader.paging(query.page, query.limit);
  if (auto status = reader.get("status")) {
    std::array<bool, kPayoutStatusCount> selected{};
    if (!v1_status_filter(*status, selected)) {
      errors.add("status", "status must be one of created, queued, processing, settling, "
                           "action_required, completed, failed, cancelled, expired");
    } else {
      query.statuses = selected;
    }
  }
  query.currency = reader.currency();
  query.external_id = reader.text("reference_id", kMaxReferenceIdBytes);
  query.search = reader.text("search", kMaxSearchChars);
  for (std::string_view name : {std::string_view("created_from"), std::string_view("created_to")}) {
    if (auto text = reader.get(name)) {
      std::optional<int64_t> at = parse_rfc3339(*text);
      if (!at) {
        errors.add(std::string(name),
                   std::string(name) + " must be an RFC 3339 timestamp such as 2024-01-15T10:30:00Z");
      } else {
        (name == "created_from" ? query.created_from : query.created_to) = *at;
      }
    }
  }
  if (query.created_from && query.created_to && *query.created_from > *query.created_to) {
    errors.add("created_from", "created_from must not be after created_to");
  }
  if (auto client = reader.get("client_id")) {
    std::optional<int64_t> id = parse_positive_id(*client);
    if (!id) {
      errors.add("client_id", "client_id must be a positive integer");
    } else if (*id != merchant_id) {
      request.empty_result = true;  // another merchant's payouts are never visible
    }
  }
  if (auto sort_by = reader.get("sort_by")) {
    if (*sort_by == "created_at") {
      query.sort_key = PayoutSortKey::kCreatedAt;
    } else if (*sort_by == "amount") {
      query.sort_key = PayoutSortKey::kAmount;
    } else if (*sort_by == "status") {
      query.sort_key = PayoutSortKey::kStatus;
    } else {
      errors.add("sort_by", "sort_by must be created_at, amount or status");
    }
  }
  if (auto order = reader.get("sort_order")) {
    const std::string normalized = upper(*order);
    if (normalized == "ASC") {
      query.descending = false;
    } else if (normalized == "DESC") {
      query.descending = true;
    } else {
      errors.add("sort_order", "sort_order must be ASC or DESC");
    }
  }
  return finish<PayoutListRequest>(std::move(request), errors);
}

Validated<WalletQuery> parse_wallet_list_query(std::string_view query_string,
                                               int64_t merchant_id) {
  Collector errors;
  QueryReader reader(query_string, {"page", "limit", "currency"}, errors);
  WalletQuery query;
  query.merchant_id = merchant_id;
  reader.paging(query.page, query.limit);
  query.currency = reader.currency();
  return finish<WalletQuery>(std::move(query), errors);
}

Validated<WalletTransactionQuery> parse_transaction_list_query(
    std::string_view query_string, int64_t merchant_id, std::optional<int64_t> path_wallet_id) {
  Collector errors;
  QueryReader reader(query_string,
                     {"page", "limit", "wallet_id", "type", "transaction_type", "reference_id",
                      "reference"},
                     errors);
  WalletTransactionQuery query;
  query.merchant_id = merchant_id;
  reader.paging(query.page, query.limit);
  query.wallet_id = path_wallet_id;
  if (auto wallet = reader.get("wallet_id")) {
    std::optional<int64_t> id = parse_positive_id(*wallet);
    if (!id) {
      errors.add("wallet_id", "wallet_id must be a positive integer");
    } else if (path_wallet_id && *id != *path_wallet_id) {
      errors.add("wallet_id", "wallet_id differs from the wallet in the path");
    } else {
      query.wallet_id = *id;
    }
  }
  if (auto type = reader.get("type")) {
    const std::string normalized = upper(*type);
    if (normalized == "REFUND" || normalized == "PAYOUT_REFUND") {
      query.type = "PAYOUT_REFUND";
    } else if (normalized == "DEPOSIT" || normalized == "PAYOUT" || normalized == "ADJUSTMENT") {
      query.type = normalized;
    } else {
      errors.add("type", "type must be DEPOSIT, PAYOUT, PAYOUT_REFUND (or refund) or ADJUSTMENT");
    }
  }
  if (auto direction = reader.get("transaction_type")) {
    const std::string normalized = upper(*direction);
    if (normalized == "CREDIT" || normalized == "DEBIT") {
      query.transaction_type = normalized;
    } else {
      errors.add("transaction_type", "transaction_type must be CREDIT or DEBIT");
    }
  }
  std::optional<std::string> reference_id = reader.text("reference_id", kMaxReferenceIdBytes);
  std::optional<std::string> reference = reader.text("reference", kMaxReferenceIdBytes);
  if (reference_id && reference && *reference_id != *reference) {
    errors.add("reference", "reference and reference_id differ");
  }
  query.reference_id = reference_id ? reference_id : reference;
  return finish<WalletTransactionQuery>(std::move(query), errors);
}

Validated<WebhookCreateRequest> parse_webhook_create_request(std::string_view body) {
  Validated<WebhookCreateRequest> out;
  std::optional<json::Value> parsed = parse_object_body(body, out.body_error);
  if (!parsed) return out;
  Collector errors;
  WebhookCreateRequest request;
  const json::Value* url = parsed->find("url");
  if (url == nullptr || !url->is_string() || url->as_string().empty()) {
    errors.add("url", "url is required: an absolute http or https URL");
  } else {
    request.url = url->as_string();
  }
  const json::Value* events = parsed->find("events");
  if (events != nullptr && !events->is_null()) {
    if (!events->is_array()) {
      errors.add("events", "events must be an array of event types");
    } else {
      for (size_t i = 0; i < events->items().size(); ++i) {
        const json::Value& event = events->items()[i];
        if (!event.is_string()) {
          errors.add("events[" + std::to_string(i) + "]", "each event type must be a string");
          continue;
        }
        request.events.push_back(event.as_string());
      }
    }
  }
  return finish<WebhookCreateRequest>(std::move(request), errors);
}

Validated<DeliveryAttemptQuery> parse_delivery_list_query(std::string_view query_string) {
  Collector errors;
  QueryReader reader(query_string, {"page", "limit"}, errors);
  DeliveryAttemptQuery query;
  reader.paging(query.page, query.limit);
  return finish<DeliveryAttemptQuery>(std::move(query), errors);
}

}  // namespace payoutd::api::payouts_v1
