#include "adapters/memcached/return_code.hpp"

namespace tiercache::memcached {

bool is_connection_failure(memcached_return_t rc) {
  switch (rc) {
    case MEMCACHED_TIMEOUT:
    case MEMCACHED_CONNECTION_FAILURE:
    case MEMCACHED_HOST_LOOKUP_FAILURE:
    case MEMCACHED_CONNECTION_BIND_FAILURE:
    case MEMCACHED_WRITE_FAILURE:
    case MEMCACHED_READ_FAILURE:
    case MEMCACHED_UNKNOWN_READ_FAILURE:
    case MEMCACHED_PROTOCOL_ERROR:
    case MEMCACHED_ERRNO:
    case MEMCACHED_PARTIAL_READ:
    case MEMCACHED_IN_PROGRESS:
    case MEMCACHED_SOME_ERRORS:
    case MEMCACHED_NO_SERVERS:
    case MEMCACHED_SERVER_MARKED_DEAD:
    case MEMCACHED_SERVER_TEMPORARILY_DISABLED:
    case MEMCACHED_FAILURE:
      return true;
    default:
      return false;
  }
}

errc errc_of(memcached_return_t rc) {
  if (rc == MEMCACHED_TIMEOUT) return errc::timeout;
  return is_connection_failure(rc) ? errc::backend_unavailable : errc::backend_error;
}

}  // namespace tiercache::memcached
