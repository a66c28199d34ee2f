// Shape and index checks at the kernel boundary.
//
// The kernels index the KV caches with slots computed in Python. A wrong slot from a bug
// upstream would read or write outside the cache (a crash, or another sequence's K/V); these
// checks make it a Python exception instead. They cost O(batch x positions) integer compares
// per call, against O(batch x positions x heads x head_dim) arithmetic in the kernel.
#pragma once
#include <torch/extension.h>

// Every slot in slots[0, count) lies in [0, limit).
inline void check_slots(const int64_t* slots, int64_t count, int64_t limit, const char* what) {
  for (int64_t i = 0; i < count; ++i)
    TORCH_CHECK(slots[i] >= 0 && slots[i] < limit, what, " holds slot ", slots[i], ", outside the cache's ",
                limit, " slots");
}

// Each sequence b reads slots[b, 0 : lengths[b]) of a [batch, width] table (decode_attention's
// gather); lengths past width are read as width, as the kernel does.
inline void check_gather(const int64_t* slots, const int64_t* lengths, int64_t batch, int64_t width,
                         int64_t limit) {
  for (int64_t b = 0; b < batch; ++b) {
    TORCH_CHECK(lengths[b] >= 0, "lengths[", b, "] is negative: ", lengths[b]);
    check_slots(slots + b * width, std::min(lengths[b], width), limit, "the gather table");
  }
}
