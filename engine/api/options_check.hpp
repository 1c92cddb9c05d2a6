// engine/api/options_check.hpp — Options validated whole at open, and what each shard gets.
#pragma once

#include "engine/l1/shard_table.hpp"
#include "tiercache/error.hpp"
#include "tiercache/options.hpp"

namespace tiercache::engine {

// `in` with the automatic fields filled in, or invalid_argument naming the first bad field.
// Checks every rule before anything is built, so a refused open has no effect.
// `typed_object_bytes`: a TypedCache's (its entries are charged more, ShardLimits).
// `l2_given_apart`: an L2 comes from elsewhere than `in` (CacheTestAccess::open_with), so the
// writer's options are checked as with Options.backend.
Result<Options> complete_options(const Options& in, std::size_t typed_object_bytes = 0,
                                 bool l2_given_apart = false);

// One shard's part of the bounds, and the size of its hash array.
ShardLimits shard_limits(const Options& completed, std::size_t typed_object_bytes = 0);

}  // namespace tiercache::engine
