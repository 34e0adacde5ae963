// Internal to commands/: turning a lambda into a store WriteOp, and waiting for its durable outcome.
#pragma once

#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <utility>

#include "commands/commands.h"
#include "store/store.h"

namespace payoutd::commands::internal {

// A WriteOp built from a lambda that produces a T inside the transaction. The value is handed to
// the callback only after the commit is durable.
template <typename T, typename ApplyFunction>
class FunctionOp final : public WriteOp {
 public:
  FunctionOp(ApplyFunction apply_function, Callback<T> done, bool defers_writes = false,
             std::optional<int64_t> deferred_payout = std::nullopt)
      : apply_function_(std::move(apply_function)),
        done_(std::move(done)),
        defers_writes_(defers_writes),
        deferred_payout_(deferred_payout) {}

  bool defers_writes() const override { return defers_writes_; }
  std::optional<int64_t> deferred_payout() const override { return deferred_payout_; }

  Status apply(WriteTx& tx) override {
    value_.reset();
    PAYOUTD_ASSIGN_OR_RETURN(T result, apply_function_(tx));
    value_.emplace(std::move(result));
    return Status::ok();
  }

  void complete(Status status) override {
    if (status.is_ok()) {
      PAYOUTD_ASSERT(value_.has_value());
      done_(Result<T>(std::move(*value_)));
    } else {
      done_(Result<T>(std::move(status)));
    }
  }

 private:
  ApplyFunction apply_function_;
  Callback<T> done_;
  const bool defers_writes_;
  const std::optional<int64_t> deferred_payout_;
  std::optional<T> value_;
};

template <typename T, typename ApplyFunction>
void submit_op(Store& store, ApplyFunction apply_function, Callback<T> done,
               bool defers_writes = false, std::optional<int64_t> deferred_payout = std::nullopt) {
  store.submit(std::make_unique<FunctionOp<T, ApplyFunction>>(
      std::move(apply_function), std::move(done), defers_writes, deferred_payout));
}

// How read_value reads: in a read transaction (Store::read), or as one statement without one
// (Store::read_single; REQUIRES: the body runs at most one statement).
enum class ReadShape { kTransaction, kSingleStatement };

// Runs `body` as `shape` says and hands back its value (or its refusal).
template <typename T>
Result<T> read_value(Store& store, const std::function<Result<T>(ReadTx&)>& body,
                     ReadShape shape = ReadShape::kTransaction) {
  std::optional<T> value;
  auto run = [&](ReadTx& tx) -> Status {
    PAYOUTD_ASSIGN_OR_RETURN(T result, body(tx));
    value.emplace(std::move(result));
    return Status::ok();
  };
  Status status =
      shape == ReadShape::kSingleStatement ? store.read_single(run) : store.read(run);
  if (!status.is_ok()) return status;
  PAYOUTD_ASSERT(value.has_value());
  return std::move(*value);
}

// Runs an asynchronous command and waits for its durable outcome (CLI, tests).
// REQUIRES: not called on the store's writer thread (it would wait on itself).
template <typename T, typename Start>
Result<T> wait_for(Start start) {
  std::promise<Result<T>> promise;
  std::future<Result<T>> future = promise.get_future();
  start([&promise](Result<T> result) { promise.set_value(std::move(result)); });
  return future.get();
}

}  // namespace payoutd::commands::internal
