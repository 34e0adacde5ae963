// The destination of a notification URL: what the dispatcher's per-destination limit counts.
#pragma once

#include <string>
#include <string_view>

namespace payoutd {

// "scheme://host:port" of an absolute http(s) URL, lower-cased, with the scheme's default port
// made explicit ("https://Hooks.Example/a?b" -> "https://hooks.example:443"). Any other text is
// its own destination (returned lower-cased, at most 300 bytes): the grouping key only has to be
// the same for the same server; the outbound guard judges the URL itself at send time.
std::string notification_destination(std::string_view url);

}  // namespace payoutd
