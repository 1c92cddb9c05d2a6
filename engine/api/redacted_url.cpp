// engine/api/redacted_url.cpp — tiercache::redacted_url (tiercache/options.hpp): a Redis URL as
// errors and to_string(options) quote it. Alone in its file: the adapters' parsers, and the fuzz
// target built from them, link it without the rest of the engine.
#include <algorithm>
#include <string>
#include <string_view>

#include "tiercache/options.hpp"

namespace tiercache {

std::string redacted_url(std::string_view url) {
  const std::size_t at = url.rfind('@');
  const std::size_t scheme_end = url.find("://");
  if (at == std::string_view::npos) {
    // Nothing marks where credentials end, and a password may hold '/' or '?': past the host's
    // first ':' all is hidden unless it reads as a port (and a database).
    const std::size_t from = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
    std::size_t colon = url.find(':', from);
    if (url.substr(from).starts_with('[')) {
      const std::size_t close = url.find(']', from);
      if (close == std::string_view::npos) return std::string(url.substr(0, from)) + "***";
      colon = url.find(':', close);
    }
    if (colon == std::string_view::npos) return std::string(url);
    const auto digits = [](std::string_view s) {
      return !s.empty() &&
             std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    const std::string_view tail = url.substr(colon + 1);
    const std::size_t slash = tail.find('/');
    if (digits(tail.substr(0, slash)) &&
        (slash == std::string_view::npos || digits(tail.substr(slash + 1))))
      return std::string(url);
    return std::string(url.substr(0, colon + 1)) + "***";
  }
  // The scheme stays if it comes before the credentials ("redis://", or a misspelt one).
  const std::size_t kept =
      scheme_end != std::string_view::npos && scheme_end < at ? scheme_end + 3 : 0;
  return std::string(url.substr(0, kept)) + "***@" + std::string(url.substr(at + 1));
}

}  // namespace tiercache
