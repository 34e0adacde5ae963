// Bounds shared by every port's listings.
#pragma once

#include <cstdint>
#include <vector>

namespace payoutd {

// Hard bounds on every page: the store refuses larger requests with kInvalidArgument.
inline constexpr int kMaxPageSize = 1000;

// One page of a listing and how many items the whole listing holds (for X-Total-Count).
template <typename T>
struct Page {
  std::vector<T> items;
  int64_t total_count = 0;
};

}  // namespace payoutd
