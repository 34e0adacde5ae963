#include "api/cashouts_v3/validation.h"

#include <algorithm>
#include <utility>

#include "api/cashouts_v3/wire.h"
#include "core/ids.h"
#include "core/money.h"

namespace payoutd::api::cashouts_v3 {
namespace {

constexpr int kMinBirthYear = 1900;
constexpr size_t kMaxEmailLocalChars = 64;
constexpr size_t kMaxDomainLabelChars = 63;

Status param_error(std::string_view field, std::string reason, int code = kCodeInvalidParams) {
  Status status = Status::invalid_argument(std::string(field), std::move(reason));
  status.with_detail_code(code);
  return status;
}

Status missing(std::string_view field) { return param_error(field, "is required"); }

std::string too_long_reason(size_t max_chars) {
  if (max_chars == 1) return "must be a single character";
  return "must be at most " + std::to_string(max_chars) + " characters";
}

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ascii_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_ascii_alnum(char c) {
  return is_ascii_digit(c) || is_ascii_upper(c) || (c >= 'a' && c <= 'z');
}

bool all_of(std::string_view text, bool (*predicate)(char)) {
  return std::all_of(text.begin(), text.end(), predicate);
}

// Absent and JSON null are the same thing for every field of this dialect.
const json::Value* find_given(const json::Value& body, std::string_view field) {
  const json::Value* value = body.find(field);
  if (value == nullptr || value->is_null()) return nullptr;
  return value;
}

// A string field. `out` is left empty when the field is not given (absent, null or ""); a
// required field that is not given is refused.
Status read_string(const json::Value& body, std::string_view field, size_t max_chars,
                   bool required, std::optional<std::string>* out) {
  out->reset();
  const json::Value* value = find_given(body, field);
  if (value == nullptr) return required ? missing(field) : Status::ok();
  if (!value->is_string()) return param_error(field, "must be a string");
  const std::string& text = value->as_string();
  if (text.empty()) return required ? missing(field) : Status::ok();
  if (has_control_characters(text)) {
    return param_error(field, "must not contain control characters");
  }
  if (count_characters(text) > max_chars) return param_error(field, too_long_reason(max_chars));
  *out = text;
  return Status::ok();
}

// A cashout id: a JSON number or a numeric string, 1..2^63-1, digits only (no sign, fraction,
// exponent or leading zero). "" counts as not given.
Status read_cashout_id(const json::Value& body, bool required, std::optional<int64_t>* out) {
  constexpr std::string_view kField = "cashout_id";
  out->reset();
  const json::Value* value = find_given(body, kField);
  if (value == nullptr) return required ? missing(kField) : Status::ok();
  std::string_view text;
  if (value->is_number()) {
    text = value->number_text();
  } else if (value->is_string()) {
    text = value->as_string();
    if (text.empty()) return required ? missing(kField) : Status::ok();
  } else {
    return param_error(kField, "must be a number or a numeric string");
  }
  std::optional<int64_t> id = parse_cashout_id(text);
  if (!id) return param_error(kField, "must be a positive integer");
  *out = *id;
  return Status::ok();
}

Status read_country(const json::Value& body, std::string* country, const Currency** currency) {
  constexpr std::string_view kField = "country";
  const json::Value* value = find_given(body, kField);
  if (value == nullptr) return missing(kField);
  if (!value->is_string()) return param_error(kField, "must be a string");
  const std::string& text = value->as_string();
  if (text.empty()) return missing(kField);
  if (text.size() != 2 || !all_of(text, is_ascii_upper)) {
    return param_error(kField, "must be an ISO 3166-1 alpha-2 code (two upper-case letters)");
  }
  // Well formed but not a country payoutd pays out to (unassigned, or no payout currency).
  const Currency* payout_currency = payout_currency_for_country(text);
  if (!is_known_country(text) || payout_currency == nullptr) {
    return param_error(kField, "country not available", kCodeCountryNotAvailable);
  }
  *country = text;
  *currency = payout_currency;
  return Status::ok();
}

// Optional; defaults to the country's payout currency (already in `*currency`).
Status read_currency(const json::Value& body, const Currency** currency) {
  constexpr std::string_view kField = "currency";
  const json::Value* value = find_given(body, kField);
  if (value == nullptr) return Status::ok();
  if (!value->is_string()) return param_error(kField, "must be a string");
  const std::string& text = value->as_string();
  if (text.empty()) return Status::ok();
  if (text.size() != 3 || !all_of(text, is_ascii_upper)) {
    return param_error(kField, "must be an ISO 4217 code (three upper-case letters)");
  }
  const Currency* found = find_currency(text);
  if (found == nullptr) return param_error(kField, "unknown currency", kCodeInvalidCurrency);
  *currency = found;
  return Status::ok();
}

// A JSON number or a numeric string, exact, at most min(exponent, 2) decimals.
Status read_amount(const json::Value& body, const Currency& currency, int64_t* amount_minor) {
  constexpr std::string_view kField = "amount";
  const json::Value* value = find_given(body, kField);
  if (value == nullptr) return missing(kField);
  std::string_view text;
  if (value->is_number()) {
    text = value->number_text();
  } else if (value->is_string()) {
    text = value->as_string();
    if (text.empty()) return missing(kField);
  } else {
    return param_error(kField, "must be a number or a numeric string");
  }
  AmountParseOptions options;
  options.max_decimals = std::min<int>(currency.exponent, 2);
  Result<int64_t> parsed = parse_amount(text, currency, options);
  if (!parsed.is_ok()) return param_error(kField, parsed.status().message());
  *amount_minor = *parsed;
  return Status::ok();
}

// Accepted for compatibility and validated, not stored (payoutd has no beneficiary registry).
Status check_beneficiary_id(const json::Value& body) {
  constexpr std::string_view kField = "beneficiary_id";
  const json::Value* value = find_given(body, kField);
  if (value == nullptr) return Status::ok();
  if (value->is_number()) {
    if (value->number_text().size() > kMaxBeneficiaryIdChars) {
      return param_error(kField, too_long_reason(kMaxBeneficiaryIdChars));
    }
    return Status::ok();
  }
  if (!value->is_string()) return param_error(kField, "must be a string or a number");
  std::optional<std::string> ignored;
  return read_string(body, kField, kMaxBeneficiaryIdChars, false, &ignored);
}

// A number (digits only) or a string of 1..6 letters or digits. A wrong JSON type or control
// characters are 300 like any field; a value of the right type that is no bank code is 303.
Status read_bank_code(const json::Value& body, std::optional<std::string>* out) {
  constexpr std::string_view kField = "bank_code";
  out->reset();
  const json::Value* value = find_given(body, kField);
  if (value == nullptr) return Status::ok();
  std::string text;
  if (value->is_number()) {
    text = value->number_text();
    if (!all_of(text, is_ascii_digit)) {
      return param_error(kField, "invalid bank code", kCodeInvalidBankCode);
    }
  } else if (value->is_string()) {
    text = value->as_string();
    if (text.empty()) return Status::ok();
    if (has_control_characters(text)) {
      return param_error(kField, "must not contain control characters");
    }
  } else {
    return param_error(kField, "must be a string or a number");
  }
  if (text.size() > kMaxBankCodeChars || !all_of(text, is_ascii_alnum)) {
    return param_error(kField, "invalid bank code", kCodeInvalidBankCode);
  }
  *out = std::move(text);
  return Status::ok();
}

Status read_on_hold(const json::Value& body, bool* on_hold) {
  constexpr std::string_view kField = "on_hold";
  *on_hold = false;
  const json::Value* value = find_given(body, kField);
  if (value == nullptr) return Status::ok();
  if (!value->is_bool()) return param_error(kField, "must be a boolean");
  *on_hold = value->as_bool();
  return Status::ok();
}

Status read_notification_url(const json::Value& body, bool has_default,
                             std::optional<std::string>* out) {
  constexpr std::string_view kField = "notification_url";
  constexpr size_t kMaxUrlChars = 300;
  PAYOUTD_RETURN_IF_ERROR(read_string(body, kField, kMaxUrlChars, false, out));
  if (!*out) {
    if (has_default) return Status::ok();  // the merchant's default URL applies
    return param_error(kField, "is required (no default notification URL is configured)");
  }
  if (!commands::validate_notification_url(**out, kField).is_ok()) {
    return param_error(kField, "must be an absolute http(s) URL");
  }
  return Status::ok();
}

bool is_email_local_char(char c) {
  if (is_ascii_alnum(c)) return true;
  constexpr std::string_view kSpecials = "!#$%&'*+/=?^_`{|}~.-";
  return kSpecials.find(c) != std::string_view::npos;
}

bool is_domain_label(std::string_view label) {
  if (label.empty() || label.size() > kMaxDomainLabelChars) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  return std::all_of(label.begin(), label.end(),
                     [](char c) { return is_ascii_alnum(c) || c == '-'; });
}

bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int parse_digits(std::string_view text) {
  int value = 0;
  for (char c : text) value = value * 10 + (c - '0');
  return value;
}

}  // namespace

bool is_valid_email(std::string_view text) {
  const size_t at = text.find('@');
  if (at == std::string_view::npos || text.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  const std::string_view local = text.substr(0, at);
  const std::string_view domain = text.substr(at + 1);
  if (local.empty() || local.size() > kMaxEmailLocalChars) return false;
  if (!std::all_of(local.begin(), local.end(), is_email_local_char)) return false;
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return false;
  }
  size_t labels = 0;
  size_t start = 0;
  while (true) {
    const size_t dot = domain.find('.', start);
    const std::string_view label =
        domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!is_domain_label(label)) return false;
    ++labels;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return labels >= 2;
}

bool is_valid_phone(std::string_view text) {
  bool has_digit = false;
  for (char c : text) {
    if (is_ascii_digit(c)) {
      has_digit = true;
    } else if (c != ' ' && c != '+' && c != '-' && c != '(' && c != ')' && c != '.') {
      return false;
    }
  }
  return has_digit;
}

bool is_valid_birthdate(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  const std::string_view year_text = text.substr(0, 4);
  const std::string_view month_text = text.substr(5, 2);
  const std::string_view day_text = text.substr(8, 2);
  if (!all_of(year_text, is_ascii_digit) || !all_of(month_text, is_ascii_digit) ||
      !all_of(day_text, is_ascii_digit)) {
    return false;
  }
  const int year = parse_digits(year_text);
  const int month = parse_digits(month_text);
  const int day = parse_digits(day_text);
  if (year < kMinBirthYear || month < 1 || month > 12 || day < 1) return false;
  static constexpr int kDaysInMonth[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int days = kDaysInMonth[month - 1];
  if (month == 2 && is_leap_year(year)) days = 29;
  return day <= days;
}

std::optional<Credentials> read_credentials(const json::Value& body) {
  const json::Value* login = body.find("login");
  const json::Value* pass = body.find("pass");
  if (login == nullptr || pass == nullptr || !login->is_string() || !pass->is_string()) {
    return std::nullopt;
  }
  const std::string& login_text = login->as_string();
  const std::string& pass_text = pass->as_string();
  if (login_text.empty() || pass_text.empty() ||
      count_characters(login_text) > kMaxCredentialChars ||
      count_characters(pass_text) > kMaxCredentialChars) {
    return std::nullopt;
  }
  return Credentials{login_text, pass_text};
}

Result<commands::CreatePayoutInput> parse_create_request(const json::Value& body,
                                                         int64_t merchant_id,
                                                         bool has_default_notification_url) {
  PAYOUTD_ASSERT(body.is_object());
  commands::CreatePayoutInput input;
  input.merchant_id = merchant_id;
  input.actor = Actor::kClient;
  Beneficiary& beneficiary = input.beneficiary;

  std::optional<std::string> external_id;
  PAYOUTD_RETURN_IF_ERROR(read_string(body, "external_id", kMaxExternalIdChars, true, &external_id));
  input.external_id = std::move(*external_id);

  const Currency* currency = nullptr;
  PAYOUTD_RETURN_IF_ERROR(read_country(body, &input.country, &currency));
  PAYOUTD_RETURN_IF_ERROR(read_currency(body, &currency));
  PAYOUTD_ASSERT(currency != nullptr);
  input.currency = std::string(currency->code);
  PAYOUTD_RETURN_IF_ERROR(read_amount(body, *currency, &input.amount_minor));
  beneficiary.country = input.country;

  PAYOUTD_RETURN_IF_ERROR(
      read_string(body, "document_id", kMaxDocumentIdChars, true, &beneficiary.document_id));
  PAYOUTD_RETURN_IF_ERROR(
      read_string(body, "document_type", kMaxDocumentTypeChars, false, &beneficiary.document_type));
  PAYOUTD_RETURN_IF_ERROR(
      read_string(body, "beneficiary_name", kMaxNameChars, true, &beneficiary.first_name));
  PAYOUTD_RETURN_IF_ERROR(
      read_string(body, "beneficiary_lastname", kMaxNameChars, false, &beneficiary.last_name));
  PAYOUTD_RETURN_IF_ERROR(check_beneficiary_id(body));

  PAYOUTD_RETURN_IF_ERROR(read_string(body, "email", kMaxEmailChars, false, &beneficiary.email));
  if (beneficiary.email && !is_valid_email(*beneficiary.email)) {
    return param_error("email", "must be a valid email address");
  }
  PAYOUTD_RETURN_IF_ERROR(read_string(body, "phone", kMaxPhoneChars, false, &beneficiary.phone));
  if (beneficiary.phone && !is_valid_phone(*beneficiary.phone)) {
    return param_error("phone", "must be a phone number (digits, spaces and + - ( ) . only)");
  }
  if (!beneficiary.email && !beneficiary.phone) {
    return param_error("email", "email or phone is required", kCodeEmailOrPhoneRequired);
  }

  PAYOUTD_RETURN_IF_ERROR(read_bank_code(body, &beneficiary.bank_code));
  PAYOUTD_RETURN_IF_ERROR(
      read_string(body, "bank_account", kMaxBankAccountChars, false, &beneficiary.bank_account));
  PAYOUTD_RETURN_IF_ERROR(
      read_string(body, "bank_branch", kMaxBankBranchChars, false, &beneficiary.bank_branch));
  PAYOUTD_RETURN_IF_ERROR(read_string(body, "account_type", 1, false, &beneficiary.account_type));
  PAYOUTD_RETURN_IF_ERROR(
      read_string(body, "address", kMaxAddressChars, false, &beneficiary.address));
  PAYOUTD_RETURN_IF_ERROR(read_string(body, "city", kMaxCityChars, false, &beneficiary.city));
  PAYOUTD_RETURN_IF_ERROR(
      read_string(body, "postal_code", kMaxPostalCodeChars, false, &beneficiary.postal_code));
  PAYOUTD_RETURN_IF_ERROR(
      read_string(body, "beneficiary_birthdate", 10, false, &beneficiary.birthdate));
  if (beneficiary.birthdate && !is_valid_birthdate(*beneficiary.birthdate)) {
    return param_error("beneficiary_birthdate", "must be a real date in the form YYYY-MM-DD");
  }
  PAYOUTD_RETURN_IF_ERROR(
      read_string(body, "comments", kMaxCommentsChars, false, &input.description));
  PAYOUTD_RETURN_IF_ERROR(
      read_notification_url(body, has_default_notification_url, &input.notification_url));
  PAYOUTD_RETURN_IF_ERROR(read_on_hold(body, &input.on_hold));
  // `type` ("json") is accepted and ignored, whatever its value: it selected the response format
  // in older versions of the reference API and has no effect there either.
  return input;
}

Result<StatusRequest> parse_status_request(const json::Value& body) {
  PAYOUTD_ASSERT(body.is_object());
  StatusRequest request;
  PAYOUTD_RETURN_IF_ERROR(read_cashout_id(body, false, &request.cashout_id));
  PAYOUTD_RETURN_IF_ERROR(
      read_string(body, "external_id", kMaxExternalIdChars, false, &request.external_id));
  if (!request.cashout_id && !request.external_id) {
    return param_error("cashout_id", "cashout_id or external_id is required");
  }
  return request;
}

Result<UpdateStatusRequest> parse_update_status_request(const json::Value& body) {
  PAYOUTD_ASSERT(body.is_object());
  UpdateStatusRequest request;
  std::optional<int64_t> cashout_id;
  PAYOUTD_RETURN_IF_ERROR(read_cashout_id(body, true, &cashout_id));
  request.cashout_id = *cashout_id;
  std::optional<std::string> status;
  PAYOUTD_RETURN_IF_ERROR(read_string(body, "status", kMaxExternalIdChars, true, &status));
  if (*status == "ON_HOLD") {
    request.status = RequestedStatus::kOnHold;
  } else if (*status == "PENDING") {
    request.status = RequestedStatus::kPending;
  } else {
    return param_error("status", "must be ON_HOLD or PENDING");
  }
  return request;
}

int requested_v3_code(RequestedStatus status) {
  return status == RequestedStatus::kOnHold ? 5 : 0;
}

Result<CancelRequest> parse_cancel_request(const json::Value& body) {
  PAYOUTD_ASSERT(body.is_object());
  CancelRequest request;
  std::optional<int64_t> cashout_id;
  PAYOUTD_RETURN_IF_ERROR(read_cashout_id(body, true, &cashout_id));
  request.cashout_id = *cashout_id;
  std::optional<std::string> external_id;
  PAYOUTD_RETURN_IF_ERROR(read_string(body, "external_id", kMaxExternalIdChars, true, &external_id));
  request.external_id = std::move(*external_id);
  return request;
}

}  // namespace payoutd::api::cashouts_v3
