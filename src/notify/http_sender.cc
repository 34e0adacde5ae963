#include "notify/http_sender.h"

#include <curl/curl.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string_view>
#include <system_error>
#include <thread>

#include "core/status.h"
#include "notify/url_guard.h"

namespace payoutd::notify {
namespace {

// Name lookups run on a thread of their own so that post() can stop waiting when the connect
// budget is spent (getaddrinfo has no timeout of its own: glibc's is resolv.conf's, 5 s x attempts x
// servers). An abandoned lookup finishes in the background; this many may be in flight at once, so
// a dead DNS server cannot make threads pile up without bound.
constexpr int kMaxLookupsInFlight = 64;
std::atomic<int> lookups_in_flight{0};

std::once_flag library_once;
CURLcode library_init_code = CURLE_OK;  // written once under library_once, read after it

using Clock = std::chrono::steady_clock;

int64_t elapsed_ms(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

bool is_printable_ascii(char c) { return c >= 0x20 && c <= 0x7e; }

// Printable ASCII only (others become '?'), at most `limit` bytes: the text goes into logs and the
// delivery log as is.
std::string bounded_text(std::string_view text, size_t limit) {
  std::string out(text.substr(0, limit));
  for (char& c : out) {
    if (!is_printable_ascii(c)) c = '?';
  }
  return out;
}

// RFC 9110 token characters: what a header name may contain.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A header line is built by concatenation, so a CR or LF in a value would smuggle in another header
// (or a second request); the dispatcher's values never contain one, but this is the last place
// that can tell. Values are printable ASCII or tabs (ids, signatures, media types).
bool is_valid_header(std::string_view name, std::string_view value) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) return false;
  return std::all_of(value.begin(), value.end(), [](char c) { return c == '\t' || is_printable_ascii(c); });
}

OutboundResult refused(std::string_view reason) {
  OutboundResult result;
  result.outcome = OutboundOutcome::kRefused;
  result.error = bounded_text(reason, kMaxOutboundErrorBytes);
  return result;
}

OutboundResult transport_error(std::string_view text) {
  OutboundResult result;
  result.outcome = OutboundOutcome::kTransportError;
  result.error = bounded_text(text, kMaxOutboundErrorBytes);
  return result;
}

// "a loopback", "an unspecified": the reasons read as sentences.
std::string with_article(AddressClass address_class) {
  const std::string_view name = address_class_name(address_class);
  const bool vowel = !name.empty() && std::string_view("aeiou").find(name.front()) != std::string_view::npos;
  return std::string(vowel ? "an " : "a ") + std::string(name);
}

constexpr std::string_view kAllowPrivateHint = "(set --allow-private-callbacks to allow)";

// ---- Bounded name resolution ----

struct Lookup {
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;                        // guarded by mutex
  int error_code = 0;                       // guarded by mutex; getaddrinfo's return value
  int system_errno = 0;                     // guarded by mutex; errno when error_code == EAI_SYSTEM
  std::vector<sockaddr_storage> addresses;  // guarded by mutex
};

struct Resolution {
  std::vector<sockaddr_storage> addresses;  // AF_INET / AF_INET6 only; empty on error
  std::string error;
};

void run_lookup(const std::shared_ptr<Lookup>& lookup, const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // No AI_ADDRCONFIG: every address the name has is checked, including ones this machine could not
  // use right now.
  addrinfo* list = nullptr;
  const int error_code = getaddrinfo(host.c_str(), nullptr, &hints, &list);
  const int system_errno = errno;
  std::vector<sockaddr_storage> addresses;
  if (error_code == 0) {
    for (const addrinfo* entry = list; entry != nullptr; entry = entry->ai_next) {
      if (entry->ai_addr == nullptr) continue;
      const bool usable = (entry->ai_family == AF_INET && entry->ai_addrlen >= sizeof(sockaddr_in)) ||
                          (entry->ai_family == AF_INET6 && entry->ai_addrlen >= sizeof(sockaddr_in6));
      if (!usable || entry->ai_addrlen > sizeof(sockaddr_storage)) continue;
      sockaddr_storage storage{};
      std::memcpy(&storage, entry->ai_addr, entry->ai_addrlen);
      addresses.push_back(storage);
    }
  }
  if (list != nullptr) freeaddrinfo(list);
  {
    std::lock_guard lock(lookup->mutex);
    lookup->error_code = error_code;
    lookup->system_errno = system_errno;
    lookup->addresses = std::move(addresses);
    lookup->done = true;
  }
  lookup->finished.notify_all();
}

// Waits for the lookup in short slices so that a shutdown does not wait out a slow DNS server.
constexpr auto kLookupWaitSlice = std::chrono::milliseconds(50);

Resolution resolve_host(const std::string& host, int timeout_ms, const std::atomic<bool>& stopping) {
  Resolution resolution;
  if (lookups_in_flight.fetch_add(1) >= kMaxLookupsInFlight) {
    lookups_in_flight.fetch_sub(1);
    resolution.error = "could not resolve host " + host + ": too many DNS lookups in flight";
    return resolution;
  }
  auto lookup = std::make_shared<Lookup>();
  try {
    std::thread([lookup, host] {
      run_lookup(lookup, host);
      lookups_in_flight.fetch_sub(1);
    }).detach();
  } catch (const std::system_error&) {
    lookups_in_flight.fetch_sub(1);
    resolution.error = "could not resolve host " + host + ": cannot start a lookup thread";
    return resolution;
  }
  std::unique_lock lock(lookup->mutex);
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!lookup->done) {
    if (stopping.load()) {
      resolution.error = "stopping: the lookup of " + host + " was abandoned";
      return resolution;
    }
    if (Clock::now() >= deadline) {
      resolution.error = "could not resolve host " + host + ": timed out after " + std::to_string(timeout_ms) + " ms";
      return resolution;
    }
    lookup->finished.wait_until(lock, std::min(deadline, Clock::now() + kLookupWaitSlice));
  }
  if (lookup->error_code != 0) {
    const std::string reason =
        lookup->error_code == EAI_SYSTEM ? std::strerror(lookup->system_errno) : gai_strerror(lookup->error_code);
    resolution.error = "could not resolve host " + host + ": " + reason;
    return resolution;
  }
  if (lookup->addresses.empty()) {
    resolution.error = "could not resolve host " + host + ": no IPv4 or IPv6 address";
    return resolution;
  }
  resolution.addresses = std::move(lookup->addresses);
  return resolution;
}

// ---- One transfer ----

// State shared with libcurl's callbacks for one post().
struct Transfer {
  bool allow_private = false;
  size_t max_body_bytes = 0;
  size_t body_bytes = 0;
  bool body_limit_reached = false;
  size_t header_bytes = 0;
  bool header_limit_reached = false;
  std::string excerpt;
  std::string refusal;  // set when the socket-level check refused an address
  const std::atomic<bool>* stopping = nullptr;  // the sender's shut_down flag (null in tests)
  bool aborted = false;
};

// libcurl calls this often (at least once a second, and on every socket event): the way to end a
// transfer early when the process stops.
int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* transfer = static_cast<Transfer*>(user);
  if (transfer->stopping != nullptr && transfer->stopping->load()) {
    transfer->aborted = true;
    return 1;
  }
  return 0;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;  // libcurl documents size as always 1
  const size_t room = transfer->max_body_bytes - transfer->body_bytes;
  const size_t taken = std::min(bytes, room);
  const size_t excerpt_room = kMaxResponseExcerptBytes - std::min(kMaxResponseExcerptBytes, transfer->excerpt.size());
  transfer->excerpt.append(data, std::min(taken, excerpt_room));
  transfer->body_bytes += taken;
  if (taken < bytes) {
    // Anything but `bytes` makes libcurl stop with CURLE_WRITE_ERROR; post() knows why.
    transfer->body_limit_reached = true;
    return 0;
  }
  return bytes;
}

size_t on_header(char* /*data*/, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  transfer->header_bytes += bytes;
  if (transfer->header_bytes > kMaxResponseHeaderBytes) {
    transfer->header_limit_reached = true;
    return 0;
  }
  return bytes;
}

// The last check, at the moment libcurl wants a socket for an address: whatever resolved the name,
// a non-public address never gets a socket. Also makes the socket close-on-exec, so a child process
// started by another thread (the integration tests start several) cannot inherit it.
curl_socket_t on_open_socket(void* user, curlsocktype purpose, curl_sockaddr* address) {
  auto* transfer = static_cast<Transfer*>(user);
  if (purpose != CURLSOCKTYPE_IPCXN) {
    transfer->refusal = "refused: unexpected socket purpose";
    return CURL_SOCKET_BAD;
  }
  if (!transfer->allow_private) {
    const bool complete = (address->family == AF_INET && address->addrlen >= sizeof(sockaddr_in)) ||
                          (address->family == AF_INET6 && address->addrlen >= sizeof(sockaddr_in6));
    if (!complete) {
      transfer->refusal = "refused: not an IPv4 or IPv6 address " + std::string(kAllowPrivateHint);
      return CURL_SOCKET_BAD;
    }
    const AddressClass address_class = classify_address(&address->addr);
    if (address_class != AddressClass::kPublic) {
      transfer->refusal = "refused: " + address_text(&address->addr) + " is " + with_article(address_class) +
                          " address " + std::string(kAllowPrivateHint);
      return CURL_SOCKET_BAD;
    }
  }
  const int fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  return fd < 0 ? CURL_SOCKET_BAD : fd;
}

struct CurlEasyDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct CurlListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlList = std::unique_ptr<curl_slist, CurlListDeleter>;

// Appends to a curl_slist; false when libcurl is out of memory (the list is left as it was).
bool append(CurlList& list, const std::string& line) {
  curl_slist* extended = curl_slist_append(list.get(), line.c_str());
  if (extended == nullptr) return false;
  (void)list.release();  // `extended` is the same list with one more entry (or the first one)
  list.reset(extended);
  return true;
}

Status check_library() {
  init_http_client_library();
  if (library_init_code != CURLE_OK) {
    return Status::unavailable(std::string("HTTP client library failed to initialise: ") +
                               curl_easy_strerror(library_init_code));
  }
  return Status::ok();
}

// Runs the POST. `pinned_addresses` (IP literals), when not empty, are the only addresses libcurl
// may use for the URL's host. `connect_budget_ms` / `total_budget_ms` are what is left of the
// options' timeouts after the name lookup.
OutboundResult perform(const SenderOptions& options, const OutboundRequest& request, const CallbackUrl& url,
                       const std::vector<std::string>& pinned_addresses, int64_t connect_budget_ms,
                       int64_t total_budget_ms, const std::atomic<bool>* stopping) {
  if (Status status = check_library(); !status.is_ok()) return transport_error(status.message());
  CurlEasy handle(curl_easy_init());
  if (handle == nullptr) return transport_error("could not create an HTTP client handle");

  CurlList header_lines;
  bool lists_ok = append(header_lines, "Content-Type: " + request.content_type);
  for (const auto& [name, value] : request.headers) lists_ok = lists_ok && append(header_lines, name + ": " + value);
  // libcurl sends "Expect: 100-continue" for large bodies (over 1 MiB in 7.88; older releases did it
  // from 1 KiB) and then waits up to a second for an interim answer many servers never send; an
  // empty Expect header turns that off whatever the version.
  lists_ok = lists_ok && append(header_lines, "Expect:");

  CurlList resolve_entries;
  if (!pinned_addresses.empty()) {
    std::string entry = url.host + ":" + std::to_string(url.port) + ":";
    for (size_t i = 0; i < pinned_addresses.size(); ++i) {
      if (i > 0) entry += ',';
      const bool ipv6 = pinned_addresses[i].find(':') != std::string::npos;
      entry += ipv6 ? "[" + pinned_addresses[i] + "]" : pinned_addresses[i];
    }
    lists_ok = lists_ok && append(resolve_entries, entry);
  }
  if (!lists_ok) return transport_error("out of memory building the request");

  Transfer transfer;
  transfer.allow_private = options.allow_private;
  transfer.max_body_bytes = options.max_response_bytes;
  transfer.stopping = stopping;
  char error_buffer[CURL_ERROR_SIZE] = {};
  const std::string target_url = url.url();

  CURL* curl = handle.get();
  CURLcode setup = CURLE_OK;
  // Keeps the first failure: a libcurl without one of these options must not send a request with
  // a weaker configuration than intended.
  auto remember = [&setup](CURLcode code) {
    if (setup == CURLE_OK) setup = code;
  };
  remember(curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer));
  remember(curl_easy_setopt(curl, CURLOPT_URL, target_url.c_str()));
  // No signals: the lookup is ours or pinned, and SIGALRM-based timeouts are not thread-safe.
  remember(curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L));
  remember(curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https"));
  remember(curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"));
  remember(curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L));
  remember(curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 0L));
  // An empty proxy overrides http_proxy / https_proxy / all_proxy from the environment: a proxy
  // would connect to the target on our behalf, past every check here.
  remember(curl_easy_setopt(curl, CURLOPT_PROXY, ""));
  remember(curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_budget_ms)));
  remember(curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(total_budget_ms)));
  remember(curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L));
  remember(curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L));
  remember(curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1)));
  remember(curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L));
  remember(curl_easy_setopt(curl, CURLOPT_USERAGENT, options.user_agent.c_str()));
  remember(curl_easy_setopt(curl, CURLOPT_POST, 1L));
  remember(curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data()));
  remember(curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size())));
  remember(curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_lines.get()));
  if (resolve_entries != nullptr) remember(curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve_entries.get()));
  remember(curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body));
  remember(curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer));
  remember(curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header));
  remember(curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer));
  remember(curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, on_open_socket));
  remember(curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &transfer));
  remember(curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L));
  remember(curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress));
  remember(curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer));
  if (setup != CURLE_OK) {
    return transport_error(std::string("HTTP client setup failed: ") + curl_easy_strerror(setup));
  }

  const CURLcode code = curl_easy_perform(curl);
  long status = 0;
  if (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) status = 0;
  const bool has_status = status >= 100 && status <= 999;

  OutboundResult result;
  if ((code == CURLE_OK && has_status) || (transfer.body_limit_reached && has_status)) {
    // A body larger than we read is still an answer: the status line is what counts.
    result.outcome = OutboundOutcome::kAnswered;
    result.http_status = static_cast<int>(status);
  } else if (transfer.aborted) {
    result = transport_error("stopping: the attempt was abandoned");
  } else if (!transfer.refusal.empty()) {
    result = refused(transfer.refusal);
  } else if (transfer.header_limit_reached) {
    result = transport_error("response headers exceed " + std::to_string(kMaxResponseHeaderBytes) + " bytes");
  } else if (code == CURLE_OK) {
    result = transport_error("the answer had no HTTP status");
  } else {
    std::string text = curl_easy_strerror(code);
    error_buffer[CURL_ERROR_SIZE - 1] = '\0';
    if (error_buffer[0] != '\0') text += std::string(": ") + error_buffer;
    result = transport_error(text);
  }
  result.response_excerpt = bounded_text(transfer.excerpt, kMaxResponseExcerptBytes);
  return result;
}

Status check_request(const OutboundRequest& request) {
  // An empty Content-Type would make libcurl drop the header and send its own default instead.
  if (request.content_type.empty() || !is_valid_header("Content-Type", request.content_type)) {
    return Status::invalid_argument("content_type", "refused: invalid Content-Type");
  }
  for (const auto& [name, value] : request.headers) {
    // The reason names no value: header values carry signatures.
    if (!is_valid_header(name, value)) return Status::invalid_argument("headers", "refused: invalid request header");
  }
  return Status::ok();
}

}  // namespace

void init_http_client_library() {
  std::call_once(library_once, [] { library_init_code = curl_global_init(CURL_GLOBAL_DEFAULT); });
}

CurlSender::CurlSender(SenderOptions options) : options_(std::move(options)) {
  PAYOUTD_ASSERT(options_.connect_timeout_ms >= 1);
  PAYOUTD_ASSERT(options_.total_timeout_ms >= 1);
  PAYOUTD_ASSERT(options_.max_response_bytes >= 1);
  init_http_client_library();
}

OutboundResult CurlSender::post(const OutboundRequest& request) {
  const Clock::time_point start = Clock::now();
  auto finish = [start](OutboundResult result) {
    result.latency_ms = elapsed_ms(start);
    return result;
  };

  if (shutting_down_.load()) return finish(transport_error("stopping: not sent"));
  Result<CallbackUrl> url = parse_callback_url(request.url);
  if (!url.is_ok()) return finish(refused("refused: " + url.status().message()));
  if (Status status = check_request(request); !status.is_ok()) return finish(refused(status.message()));

  std::vector<std::string> pinned_addresses;
  if (!options_.allow_private) {
    if (std::optional<AddressClass> literal_class = classify_ip_text(url->host); literal_class.has_value()) {
      if (*literal_class != AddressClass::kPublic) {
        return finish(refused("refused: " + url->host + " is " + with_article(*literal_class) + " address " +
                              std::string(kAllowPrivateHint)));
      }
    } else {
      const Resolution resolution = resolve_host(url->host, options_.connect_timeout_ms, shutting_down_);
      if (!resolution.error.empty()) return finish(transport_error(resolution.error));
      for (const sockaddr_storage& storage : resolution.addresses) {
        const auto* address = reinterpret_cast<const sockaddr*>(&storage);
        const std::string text = address_text(address);
        const AddressClass address_class = classify_address(address);
        if (address_class != AddressClass::kPublic) {
          return finish(refused("refused: " + url->host + " resolves to " + text + ", " + with_article(address_class) +
                                " address " + std::string(kAllowPrivateHint)));
        }
        if (std::find(pinned_addresses.begin(), pinned_addresses.end(), text) == pinned_addresses.end()) {
          pinned_addresses.push_back(text);
        }
      }
    }
    if (url->port != 80 && url->port != 443) {
      return finish(refused("refused: port " + std::to_string(url->port) +
                            " is not allowed for callbacks (only 80 and 443; --allow-private-callbacks allows others)"));
    }
  }

  // What the lookup used comes off both budgets, so that the whole post stays within
  // total_timeout_ms; at least 1 ms each, as 0 would mean "no timeout" to libcurl.
  const int64_t used_ms = elapsed_ms(start);
  const int64_t connect_budget_ms = std::max<int64_t>(1, options_.connect_timeout_ms - used_ms);
  const int64_t total_budget_ms = std::max<int64_t>(1, options_.total_timeout_ms - used_ms);
  return finish(
      perform(options_, request, *url, pinned_addresses, connect_budget_ms, total_budget_ms, &shutting_down_));
}

namespace detail {

OutboundResult post_pinned_for_testing(const SenderOptions& options, const OutboundRequest& request,
                                       const std::vector<std::string>& pinned_addresses) {
  const Clock::time_point start = Clock::now();
  Result<CallbackUrl> url = parse_callback_url(request.url);
  OutboundResult result = url.is_ok() ? perform(options, request, *url, pinned_addresses, options.connect_timeout_ms,
                                                options.total_timeout_ms, nullptr)
                                      : refused("refused: " + url.status().message());
  result.latency_ms = elapsed_ms(start);
  return result;
}

}  // namespace detail

}  // namespace payoutd::notify
