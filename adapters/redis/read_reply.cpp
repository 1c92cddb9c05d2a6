#include "adapters/redis/read_reply.hpp"

#include <cstring>
#include <string>
#include <string_view>

#include "adapters/redis/not_serving.hpp"

namespace tiercache::redis {
namespace {

// The read script's answer for a key that holds the "no such key" marker.
constexpr const char* kAbsentStatus = "ABSENT";

// Bytes of an unexpected reply quoted in an error: every error text Redis sends fits.
constexpr std::size_t kQuotedBytes = 256;

const char* type_name(int type) {
  switch (type) {
    case REDIS_REPLY_STRING:
      return "string";
    case REDIS_REPLY_ARRAY:
      return "array";
    case REDIS_REPLY_INTEGER:
      return "integer";
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_STATUS:
      return "status";
    case REDIS_REPLY_ERROR:
      return "error";
  }
  return "unknown";
}

// The reply's text, cut to kQuotedBytes, a cut marked so that it is not read as the whole.
std::string text_of(const redisReply& r) {
  if (r.str == nullptr) return {};
  if (r.len <= kQuotedBytes) return std::string(r.str, r.len);
  return std::string(r.str, kQuotedBytes) + "... (" + std::to_string(r.len) + " bytes)";
}

std::unexpected<Error> unexpected_reply(const char* command, const redisReply& r) {
  if (r.type == REDIS_REPLY_ERROR)
    // Redis serves no read now (loading, busy): down for now, as a lost connection is.
    return fail(is_not_serving({r.str, r.len}) ? errc::backend_unavailable : errc::backend_error,
                command, ": ", text_of(r));
  return fail(errc::backend_error, command, ": unexpected ", type_name(r.type), " reply \"",
              text_of(r), "\"");
}

}  // namespace

Result<BackendValue> parse_read_reply(const redisReply& range, const redisReply& pttl,
                                      std::size_t max_value_bytes) {
  if (range.type == REDIS_REPLY_INTEGER)
    return fail(errc::serialization, "get: the value in Redis is ", range.integer,
                " bytes, longer than ", max_value_bytes,
                " (Options.l1.max_value_bytes); not transferred");
  const bool absent = range.type == REDIS_REPLY_STATUS &&
                      std::string_view(range.str, range.len) == std::string_view(kAbsentStatus);
  if (range.type != REDIS_REPLY_STRING && !absent) return unexpected_reply("GETRANGE", range);
  if (pttl.type != REDIS_REPLY_INTEGER) return unexpected_reply("PTTL", pttl);
  // -2: no such key (GETRANGE then answered ""); -1: no expiry; else milliseconds left.
  if (pttl.integer == -2) return std::unexpected(Error{make_error_code(errc::not_found), {}});
  if (pttl.integer < -2) return fail(errc::backend_error, "PTTL: unexpected value ", pttl.integer);
  BackendValue v;
  v.absent = absent;
  if (!absent) {
    if (range.len > max_value_bytes)
      return fail(errc::serialization, "get: the value in Redis is longer than ", max_value_bytes,
                  " bytes (Options.l1.max_value_bytes); not read");
    v.value.assign(range.str, range.len);
  }
  v.ttl_left = pttl.integer == -1 ? TtlLeft::never_expires()
                                  : TtlLeft::expires_after(std::chrono::milliseconds(pttl.integer));
  return v;
}

const char* read_script_legacy() {
  static const char* const legacy = std::strchr(kReadScript, '\n') + 1;
  return legacy;
}

bool is_script_flags_unsupported(std::string_view error) {
  return error.find("Error compiling script") != std::string_view::npos ||
         error.find("Unexpected engine in script shebang") != std::string_view::npos;
}

std::vector<Result<BackendValue>> parse_script_reply(const redisReply& reply, std::size_t keys,
                                                     std::size_t max_value_bytes) {
  std::vector<Result<BackendValue>> out;
  out.reserve(keys);
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 2 * keys) {
    const Error e = unexpected_reply("read script", reply).error();
    out.assign(keys, std::unexpected(e));
    return out;
  }
  for (std::size_t i = 0; i < keys; ++i) {
    const redisReply* range = reply.element[2 * i];
    const redisReply* pttl = reply.element[2 * i + 1];
    if (range == nullptr || pttl == nullptr) {
      out.push_back(fail(errc::backend_error, "read script: missing element"));
      continue;
    }
    out.push_back(parse_read_reply(*range, *pttl, max_value_bytes));
  }
  return out;
}

}  // namespace tiercache::redis
