#include "adapters/redis/resp.hpp"

#include <charconv>

namespace tiercache::redis {
namespace {

// Room for a '*' or '$', 20 digits and "\r\n".
constexpr std::size_t kMaxHeaderBytes = 24;

void append_header(std::string& out, char kind, std::size_t n) {
  char buf[kMaxHeaderBytes];
  buf[0] = kind;
  char* end = std::to_chars(buf + 1, buf + sizeof buf - 2, n).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out.append(buf, end);
}

}  // namespace

std::string format_command(std::span<const std::string_view> argv) {
  std::size_t bytes = kMaxHeaderBytes;
  for (std::string_view a : argv) bytes += kMaxHeaderBytes + a.size() + 2;
  std::string out;
  out.reserve(bytes);
  append_header(out, '*', argv.size());
  for (std::string_view a : argv) {
    append_header(out, '$', a.size());
    out.append(a);
    out.append("\r\n");
  }
  return out;
}

}  // namespace tiercache::redis
