#include "store/store.h"

#include <filesystem>
#include <future>
#include <system_error>
#include <utility>

#include "store/database_url.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"

namespace payoutd {
namespace {

// The op behind Store::write. It owns the promise, so the caller's future outlives nothing it
// depends on: the writer thread destroys the op after complete() has set the value.
class FunctionWriteOp final : public WriteOp {
 public:
  explicit FunctionWriteOp(std::function<Status(WriteTx&)> body) : body_(std::move(body)) {}
  std::future<Status> future() { return promise_.get_future(); }

  Status apply(WriteTx& tx) override { return body_(tx); }
  void complete(Status status) override { promise_.set_value(std::move(status)); }

 private:
  std::function<Status(WriteTx&)> body_;
  std::promise<Status> promise_;
};

}  // namespace

Status Store::write(std::function<Status(WriteTx&)> body) {
  auto op = std::make_unique<FunctionWriteOp>(std::move(body));
  std::future<Status> outcome = op->future();
  submit(std::move(op));
  return outcome.get();
}

Result<std::unique_ptr<Store>> open_store(std::string_view database_url,
                                          const StoreOptions& options) {
  PAYOUTD_ASSIGN_OR_RETURN(DatabaseUrl url, parse_database_url(database_url));
  if (url.backend == DatabaseBackend::kPostgresql) {
    PAYOUTD_ASSIGN_OR_RETURN(std::unique_ptr<postgres::PgStore> store,
                             postgres::PgStore::open(url.conninfo, options));
    return std::unique_ptr<Store>(std::move(store));
  }

  // Resolve a relative path once, now: every connection opened later (readers, migrations) must
  // name the same file even if the process changes directory.
  std::error_code error;
  std::filesystem::path path = std::filesystem::absolute(url.path, error);
  if (error) {
    return Status::invalid_argument(
        "database", "cannot resolve database path '" + url.path + "': " + error.message());
  }
  const std::filesystem::path parent = path.parent_path();
  if (!parent.empty()) {
    std::filesystem::create_directories(parent, error);
    if (error) {
      return Status::invalid_argument("database", "cannot create database directory '" + parent.string() +
                                 "': " + error.message());
    }
  }
  Result<std::unique_ptr<sqlite::SqliteStore>> store =
      sqlite::SqliteStore::open(path.lexically_normal().string(), options);
  if (!store.is_ok()) return std::move(store).status();
  return std::unique_ptr<Store>(std::move(store).value());
}

}  // namespace payoutd

namespace payoutd {
namespace {
constexpr std::string_view kConnectorStateNames[] = {"none", "submitting", "accepted", "unknown"};
constexpr std::string_view kCancelRequestStateNames[] = {"none", "pending", "refused"};
}  // namespace

std::string_view connector_state_name(ConnectorState state) {
  const auto index = static_cast<size_t>(state);
  PAYOUTD_ASSERT(index < std::size(kConnectorStateNames));
  return kConnectorStateNames[index];
}

std::optional<ConnectorState> parse_connector_state_name(std::string_view name) {
  for (size_t i = 0; i < std::size(kConnectorStateNames); ++i) {
    if (kConnectorStateNames[i] == name) return static_cast<ConnectorState>(i);
  }
  return std::nullopt;
}

std::string_view cancel_request_state_name(CancelRequestState state) {
  const auto index = static_cast<size_t>(state);
  PAYOUTD_ASSERT(index < std::size(kCancelRequestStateNames));
  return kCancelRequestStateNames[index];
}

std::optional<CancelRequestState> parse_cancel_request_state_name(std::string_view name) {
  for (size_t i = 0; i < std::size(kCancelRequestStateNames); ++i) {
    if (kCancelRequestStateNames[i] == name) return static_cast<CancelRequestState>(i);
  }
  return std::nullopt;
}

}  // namespace payoutd
