// Bounds shared by every port's listings.
#pragma once

namespace payoutd {

// Hard bounds on every page: the store refuses larger requests with kInvalidArgument.
inline constexpr int kMaxPageSize = 1000;

}  // namespace payoutd
