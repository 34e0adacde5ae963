// Micro-benchmarks of the per-request CPU work in the core: exact amount parsing and formatting,
// fee computation, the transition check, and the v3 signature check. Run: build/bench/payoutd_micro_bench
#include <benchmark/benchmark.h>

#include <string>

#include "core/money.h"
#include "core/payout_status.h"
#include "crypto/hash.h"

namespace {

void BM_ParseAmount(benchmark::State& state) {
  const payoutd::Currency* brl = payoutd::find_currency("BRL");
  for (auto _ : state) {
    auto parsed = payoutd::parse_amount("12345.67", *brl);
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK(BM_ParseAmount);

void BM_FormatAmount(benchmark::State& state) {
  const payoutd::Currency* brl = payoutd::find_currency("BRL");
  std::string out;
  out.reserve(32);
  for (auto _ : state) {
    out.clear();
    payoutd::append_amount(out, 1234567, *brl);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_FormatAmount);

void BM_ComputeFees(benchmark::State& state) {
  const payoutd::FeeSchedule schedule{150, 275};
  int64_t amount = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(payoutd::compute_fees(amount, schedule));
    amount = amount % 1000000 + 7;
  }
}
BENCHMARK(BM_ComputeFees);

void BM_CheckTransition(benchmark::State& state) {
  for (auto _ : state) {
    auto status = payoutd::check_transition(payoutd::PayoutStatus::kQueued,
                                            payoutd::PayoutStatus::kCancelled,
                                            payoutd::Actor::kClient);
    benchmark::DoNotOptimize(status);
  }
}
BENCHMARK(BM_CheckTransition);

void BM_VerifyPayloadSignature(benchmark::State& state) {
  const std::string key = "cashout_secret_key";
  const std::string body =
      R"({"login":"cashout_login","pass":"cashout_pass","cashout_id":11954,"external_id":"cashoutID2134"})";
  const std::string signature = payoutd::crypto::hex_lower(payoutd::crypto::hmac_sha256(key, body));
  for (auto _ : state) {
    benchmark::DoNotOptimize(payoutd::crypto::verify_hmac_sha256_hex(key, body, signature));
  }
}
BENCHMARK(BM_VerifyPayloadSignature);

}  // namespace
