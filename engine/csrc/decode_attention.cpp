// Decode attention over the paged KV cache, reading K/V rows in place.
//
// One query token per sequence; each sequence is one work item. Every query head is scored
// against the sequence's cached keys (grouped-query heads share their KV head), softmaxed and
// summed over the cached values, reading every K/V row once, straight from its cache slot.
// The torch fallback (engine/attention.py) first gathers K/V into a padded batch and then
// reads it again; at a batch of 32 that copy and re-read is most of the attention time.
//
// The cache may hold fp32, fp16 or bf16 (the engine's KV dtype); rows are widened to fp32 as
// they are read and all arithmetic is fp32. At a batch of 32 the step reads more K/V than
// weights, so halving the cache's bytes shortens it.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace {

constexpr int64_t kLanes = 8;  // partial sums in 8 lanes: vectorizable without reordering flags

inline float dot(const float* a, const float* b, int64_t n) {
  float acc[kLanes] = {0};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
  float sum = 0;
  for (int64_t j = 0; j < kLanes; ++j) sum += acc[j];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

inline void axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// s[first:len] = softmax(s[first:len]), in place
inline void softmax(float* s, int64_t first, int64_t len) {
  float peak = -std::numeric_limits<float>::infinity();
  for (int64_t l = first; l < len; ++l) peak = std::max(peak, s[l]);
  float total = 0;
  for (int64_t l = first; l < len; ++l) total += (s[l] = std::exp(s[l] - peak));
  const float inv = total > 0 ? 1.0f / total : 0.0f;
  for (int64_t l = first; l < len; ++l) s[l] *= inv;
}

// A cache row as fp32: the row itself, or widened into `buffer`.
inline const float* widen(const float* row, int64_t, float*) { return row; }

inline const float* widen(const at::Half* row, int64_t n, float* buffer) {
  int64_t i = 0;
#ifdef __F16C__
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(buffer + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i))));
#endif
  for (; i < n; ++i) buffer[i] = static_cast<float>(row[i]);
  return buffer;
}

inline const float* widen(const at::BFloat16* row, int64_t n, float* buffer) {
  const uint16_t* bits = reinterpret_cast<const uint16_t*>(row);
  uint32_t* out = reinterpret_cast<uint32_t*>(buffer);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<uint32_t>(bits[i]) << 16;  // bf16 is fp32's top half
  return buffer;
}

template <typename T>
void attend(const float* qp, const T* kp, const T* vp, const int64_t* sp, const int64_t* lp, float* op,
            int64_t batch, int64_t heads, int64_t kv_heads, int64_t dim, int64_t width, float scale,
            int64_t window) {
  const int64_t group = heads / kv_heads, row = kv_heads * dim;
  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(heads * width), buffer(row);
    for (int64_t b = begin; b < end; ++b) {
      const int64_t len = std::min(lp[b], width);
      const int64_t first = window > 0 ? std::max<int64_t>(0, len - window) : 0;
      const float* qb = qp + b * heads * dim;
      float* ob = op + b * heads * dim;
      const int64_t* sb = sp + b * width;
      for (int64_t l = first; l < len; ++l) {               // a slot's K row holds every KV head
        const float* key = widen(kp + sb[l] * row, row, buffer.data());
        for (int64_t hq = 0; hq < heads; ++hq)
          scores[hq * width + l] = dot(qb + hq * dim, key + (hq / group) * dim, dim) * scale;
      }
      for (int64_t hq = 0; hq < heads; ++hq) softmax(scores.data() + hq * width, first, len);
      std::fill(ob, ob + heads * dim, 0.0f);
      for (int64_t l = first; l < len; ++l) {
        const float* value = widen(vp + sb[l] * row, row, buffer.data());
        for (int64_t hq = 0; hq < heads; ++hq)
          axpy(scores[hq * width + l], value + (hq / group) * dim, ob + hq * dim, dim);
      }
    }
  });
}

}  // namespace

// q [B, H, D]; k_cache, v_cache [S, KVH, D]; slots [B, L] cache slot of each position;
// lengths [B] positions each sequence attends (its new token included); window <= 0: none.
torch::Tensor decode_attention(const torch::Tensor& q, const torch::Tensor& k_cache,
                               const torch::Tensor& v_cache, const torch::Tensor& slots,
                               const torch::Tensor& lengths, double scale, int64_t window) {
  TORCH_CHECK(q.dim() == 3 && k_cache.dim() == 3 && v_cache.dim() == 3, "q and caches must be 3-D");
  TORCH_CHECK(q.scalar_type() == at::kFloat, "decode_attention takes float32 queries");
  TORCH_CHECK(k_cache.scalar_type() == v_cache.scalar_type(), "K and V caches must share a dtype");
  TORCH_CHECK(slots.scalar_type() == at::kLong && lengths.scalar_type() == at::kLong, "slots and lengths are int64");
  TORCH_CHECK(k_cache.is_contiguous() && v_cache.is_contiguous(), "caches must be contiguous");
  const auto query = q.contiguous();
  const auto slot = slots.contiguous();
  const auto length = lengths.contiguous();
  const int64_t batch = query.size(0), heads = query.size(1), dim = query.size(2);
  const int64_t kv_heads = k_cache.size(1), width = slot.size(1);
  TORCH_CHECK(heads % kv_heads == 0 && k_cache.size(2) == dim, "head shapes do not match");
  auto out = torch::empty_like(query);
  const auto run = [&](auto* k, auto* v) {
    attend(query.data_ptr<float>(), k, v, slot.data_ptr<int64_t>(), length.data_ptr<int64_t>(),
           out.data_ptr<float>(), batch, heads, kv_heads, dim, width, static_cast<float>(scale), window);
  };
  switch (k_cache.scalar_type()) {
    case at::kFloat: run(k_cache.data_ptr<float>(), v_cache.data_ptr<float>()); break;
    case at::kHalf: run(k_cache.data_ptr<at::Half>(), v_cache.data_ptr<at::Half>()); break;
    case at::kBFloat16: run(k_cache.data_ptr<at::BFloat16>(), v_cache.data_ptr<at::BFloat16>()); break;
    default: TORCH_CHECK(false, "decode_attention reads fp32, fp16 or bf16 caches, got ", k_cache.scalar_type());
  }
  return out;
}
