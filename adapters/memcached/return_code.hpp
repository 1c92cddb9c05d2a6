// adapters/memcached/return_code.hpp — what a libmemcached return code means for tiercache.
//
//   libmemcached return code                                   errc                 server
//   TIMEOUT (no answer within command_timeout or connect_timeout)  timeout          backs off
//   CONNECTION_FAILURE, HOST_LOOKUP_FAILURE, WRITE_FAILURE,        backend_unavailable  backs off
//   READ_FAILURE, UNKNOWN_READ_FAILURE, PROTOCOL_ERROR, ERRNO,
//   PARTIAL_READ, IN_PROGRESS, SOME_ERRORS, NO_SERVERS,
//   SERVER_MARKED_DEAD, SERVER_TEMPORARILY_DISABLED, FAILURE
//   SERVER_ERROR ("object too large", "out of memory"), E2BIG,     backend_error        stays up
//   SERVER_MEMORY_ALLOCATION_FAILURE, CLIENT_ERROR, ERROR, any other
//
// The first two rows leave the connection in an unknown state (a reply may still come): the
// lane closes its connections and the server is probed with backoff before it is used again
// (memcached_lane.hpp). timeout and backend_unavailable are what Backend::WriteDone calls "in
// doubt": the writer sends the write again. backend_error is final. NOTFOUND, NOTSTORED and
// DELETED are answers, not failures; each operation says what they mean.
#pragma once

#include <libmemcached-1.0/memcached.h>

#include "tiercache/error.hpp"

namespace tiercache::memcached {

// Whether `rc` says the server could not be reached or its connection's state is unknown.
bool is_connection_failure(memcached_return_t rc);

// The errc of a failure `rc` (one that is not an answer), as the table above says.
errc errc_of(memcached_return_t rc);

}  // namespace tiercache::memcached
