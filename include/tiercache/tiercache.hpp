// tiercache/tiercache.hpp — includes the whole public API.
#pragma once

#include "tiercache/backend.hpp"
#include "tiercache/cache.hpp"
#include "tiercache/codec.hpp"
#include "tiercache/context.hpp"
#include "tiercache/error.hpp"
#include "tiercache/file_store.hpp"
#include "tiercache/loader.hpp"
#include "tiercache/memcached.hpp"
#include "tiercache/options.hpp"
#include "tiercache/stats.hpp"
#include "tiercache/typed_cache.hpp"
