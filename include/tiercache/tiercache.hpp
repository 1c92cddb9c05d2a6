// tiercache/tiercache.hpp — includes the whole public API.
#pragma once

#include "tiercache/backend.hpp"
#include "tiercache/cache.hpp"
#include "tiercache/codec.hpp"
#include "tiercache/context.hpp"
#include "tiercache/error.hpp"
#include "tiercache/file_store.hpp"
#include "tiercache/histogram.hpp"
#include "tiercache/loader.hpp"
#include "tiercache/memcached.hpp"
#include "tiercache/metrics.hpp"
#include "tiercache/metrics_endpoint.hpp"
#include "tiercache/options.hpp"
#include "tiercache/prometheus.hpp"
#include "tiercache/stats.hpp"
#include "tiercache/typed_cache.hpp"
