// A KV cache as the kernels read and write it (engine/kv_format.py is the format's definition).
//
// Per slot, kv_heads rows of head_dim values in the cache's dtype; an int8 row is followed by
// its fp32 scale (value = q * scale), so int8 rows are head_dim + 4 bytes apart. quantize_row
// rounds exactly as kv_format.encode does: scale = max(max|x| / 127, FLT_MIN), q = x / scale
// rounded to nearest even.
#pragma once
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

template <typename T>
constexpr int64_t kScaleBytes = std::is_same_v<T, int8_t> ? 4 : 0;

// The K or V cache of one layer: base pointer and the row geometry.
template <typename T>
struct CacheRows {
  const T* base;
  int64_t kv_heads, dim;

  int64_t head_stride() const { return dim + kScaleBytes<T>; }
  int64_t slot_stride() const { return kv_heads * head_stride(); }
  int64_t offset(int64_t s, int64_t kv) const { return s * slot_stride() + kv * head_stride(); }
  const T* slot(int64_t s) const { return base + s * slot_stride(); }
  const T* head(int64_t s, int64_t kv) const { return base + offset(s, kv); }
};

// The scale stored after an int8 row of `dim` values.
inline float row_scale(const int8_t* row, int64_t dim) {
  float scale;
  std::memcpy(&scale, row + dim, sizeof scale);
  return scale;
}

inline void quantize_row(const float* x, int64_t dim, int8_t* out) {
  float peak = 0.0f;
  for (int64_t i = 0; i < dim; ++i) peak = std::max(peak, std::fabs(x[i]));
  const float scale = std::max(peak / 127.0f, std::numeric_limits<float>::min());
  for (int64_t i = 0; i < dim; ++i) out[i] = static_cast<int8_t>(std::nearbyint(x[i] / scale));
  std::memcpy(out + dim, &scale, sizeof scale);
}
