#include "engine/l1/entry_index.hpp"

#include <algorithm>
#include <cassert>
#include <new>

#include "engine/l1/reclamation.hpp"

namespace tiercache::engine {
namespace {

// Smallest array: two lines of cells.
constexpr std::size_t kMinCapacity = 16;

// Used cells may fill at most 3/4 of the array.
bool over_load(std::size_t used, std::size_t capacity) noexcept {
  return used * 4 > capacity * 3;
}

// An array that holds `entries` at half load: room to insert half as many again (or leave as
// many tombstones) before the next rebuild.
std::size_t capacity_for(std::size_t entries) noexcept {
  return std::max(entries * 2, kMinCapacity);
}

}  // namespace

EntryIndex::EntryIndex(std::size_t expected_entries)
    : array_(nullptr),
      // A full shard's add holds one entry more until it evicts: room for that one too.
      min_capacity_(std::max((expected_entries + 1) * 4 / 3 + 2, kMinCapacity)) {
  array_.store(make_array(min_capacity_), kRelaxed);
}

EntryIndex::~EntryIndex() {
  free_array(array_.load(kRelaxed));
}

std::size_t EntryIndex::array_bytes(std::size_t capacity) noexcept {
  return sizeof(Array) + capacity * sizeof(std::atomic<std::uintptr_t>);
}

EntryIndex::Array* EntryIndex::make_array(std::size_t capacity) {
  void* mem = ::operator new(array_bytes(capacity));
  auto* a = new (mem) Array{capacity};
  for (std::size_t i = 0; i < capacity; ++i)
    new (&a->cells()[i]) std::atomic<std::uintptr_t>(kEmpty);
  return a;
}

void EntryIndex::free_array(void* array) noexcept {
  ::operator delete(array);
}

std::uintptr_t EntryIndex::cell_for(const Entry* e) noexcept {
  const auto p = reinterpret_cast<std::uintptr_t>(e);
  assert((p & kTagMask) == 0 && "user-space pointers fit in 48 bits");
  return p | tag_of(e->hash);
}

std::size_t EntryIndex::position_of(const Entry* e) const noexcept {
  const Array* a = array_.load(kRelaxed);
  for (std::size_t i = home(e->hash, a->capacity);; i = next(i, a->capacity)) {
    const std::uintptr_t s = a->cells()[i].load(kRelaxed);
    assert(s != kEmpty && "the entry is in the index");
    if (s != kErased && entry_of(s) == e) return i;
  }
}

std::size_t EntryIndex::longest_probe() const noexcept {
  const Array* a = array_.load(kRelaxed);
  std::size_t longest = 0;
  for (std::size_t i = 0; i < a->capacity; ++i) {
    const std::uintptr_t s = a->cells()[i].load(kRelaxed);
    if (s == kEmpty || s == kErased) continue;
    const std::size_t from = home(entry_of(s)->hash, a->capacity);
    longest = std::max(longest, i >= from ? i - from : i + a->capacity - from);
  }
  return longest;
}

void EntryIndex::reserve_one_more() {
  if (over_load(used_ + 1, array_.load(kRelaxed)->capacity)) rebuild();
}

void EntryIndex::insert(Entry* e) noexcept {
  assert(!over_load(used_ + 1, array_.load(kRelaxed)->capacity) && "reserve_one_more() first");
  Array* a = array_.load(kRelaxed);
  for (std::size_t i = home(e->hash, a->capacity);; i = next(i, a->capacity)) {
    const std::uintptr_t s = a->cells()[i].load(kRelaxed);
    if (s != kEmpty && s != kErased) continue;
    if (s == kEmpty) ++used_;
    ++live_;
    // Release: a reader that sees the cell sees the entry's bytes.
    a->cells()[i].store(cell_for(e), kRelease);
    return;
  }
}

void EntryIndex::replace(const Entry* old, Entry* fresh) noexcept {
  assert(old->hash == fresh->hash);
  Array* a = array_.load(kRelaxed);
  a->cells()[position_of(old)].store(cell_for(fresh), kRelease);
}

void EntryIndex::erase(const Entry* e) noexcept {
  Array* a = array_.load(kRelaxed);
  std::size_t i = position_of(e);
  --live_;
  if (a->cells()[next(i, a->capacity)].load(kRelaxed) != kEmpty) {
    a->cells()[i].store(kErased, kRelease);
    return;
  }
  // Nothing lies past an empty cell, so no probe needs to pass this one or the tombstones
  // right before it.
  a->cells()[i].store(kEmpty, kRelease);
  --used_;
  for (i = previous(i, a->capacity); a->cells()[i].load(kRelaxed) == kErased;
       i = previous(i, a->capacity)) {
    a->cells()[i].store(kEmpty, kRelease);
    --used_;
  }
}

void EntryIndex::rebuild() {
  Array* old = array_.load(kRelaxed);
  const std::size_t capacity = std::max(min_capacity_, capacity_for(live_ + 1));
  Array* fresh = make_array(capacity);
  for (std::size_t i = 0; i < old->capacity; ++i) {
    const std::uintptr_t s = old->cells()[i].load(kRelaxed);
    if (s == kEmpty || s == kErased) continue;
    std::size_t j = home(entry_of(s)->hash, fresh->capacity);
    while (fresh->cells()[j].load(kRelaxed) != kEmpty) j = next(j, fresh->capacity);
    // Relaxed: nobody reads `fresh` before the release store that publishes it.
    fresh->cells()[j].store(s, kRelaxed);
  }
  used_ = live_;
  ++rebuilds_;
  array_.store(fresh, kRelease);
  // A reader may still probe the old array: it goes when no section can hold it.
  retire(old, array_bytes(old->capacity), free_array);
}

}  // namespace tiercache::engine
