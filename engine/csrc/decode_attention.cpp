// Decode attention over the paged KV cache, reading K/V rows in place.
//
// One query token per sequence; each sequence is one work item. Every query head is scored
// against the sequence's cached keys (grouped-query heads share their KV head), softmaxed and
// summed over the cached values, reading every K/V row once, straight from its cache slot.
// The torch fallback (engine/attention.py) first gathers K/V into a padded batch and then
// reads it again; at a batch of 32 that copy and re-read is most of the attention time.
#include <torch/extension.h>
#include <ATen/Parallel.h>

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

}  // namespace

// q [B, H, D]; k_cache, v_cache [S, KVH, D]; slots [B, L] cache slot of each position;
// lengths [B] positions each sequence attends (its new token included); window <= 0: none.
torch::Tensor decode_attention(const torch::Tensor& q, const torch::Tensor& k_cache,
                               const torch::Tensor& v_cache, const torch::Tensor& slots,
                               const torch::Tensor& lengths, double scale, int64_t window) {
  TORCH_CHECK(q.dim() == 3 && k_cache.dim() == 3 && v_cache.dim() == 3, "q and caches must be 3-D");
  TORCH_CHECK(q.scalar_type() == at::kFloat && k_cache.scalar_type() == at::kFloat &&
                  v_cache.scalar_type() == at::kFloat, "decode_attention is float32 only");
  TORCH_CHECK(slots.scalar_type() == at::kLong && lengths.scalar_type() == at::kLong, "slots and lengths are int64");
  TORCH_CHECK(k_cache.is_contiguous() && v_cache.is_contiguous(), "caches must be contiguous");
  const auto query = q.contiguous();
  const auto slot = slots.contiguous();
  const auto length = lengths.contiguous();
  const int64_t batch = query.size(0), heads = query.size(1), dim = query.size(2);
  const int64_t kv_heads = k_cache.size(1), width = slot.size(1);
  TORCH_CHECK(heads % kv_heads == 0 && k_cache.size(2) == dim, "head shapes do not match");
  const int64_t group = heads / kv_heads;
  auto out = torch::empty_like(query);
  const float* qp = query.data_ptr<float>();
  const float* kp = k_cache.data_ptr<float>();
  const float* vp = v_cache.data_ptr<float>();
  const int64_t* sp = slot.data_ptr<int64_t>();
  const int64_t* lp = length.data_ptr<int64_t>();
  float* op = out.data_ptr<float>();
  const float fscale = static_cast<float>(scale);

  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(heads * width);
    for (int64_t b = begin; b < end; ++b) {
      const int64_t len = std::min(lp[b], width);
      const int64_t first = window > 0 ? std::max<int64_t>(0, len - window) : 0;
      const float* qb = qp + b * heads * dim;
      float* ob = op + b * heads * dim;
      const int64_t* sb = sp + b * width;
      for (int64_t l = first; l < len; ++l) {               // a slot's K row holds every KV head
        const float* key = kp + sb[l] * kv_heads * dim;
        for (int64_t hq = 0; hq < heads; ++hq)
          scores[hq * width + l] = dot(qb + hq * dim, key + (hq / group) * dim, dim) * fscale;
      }
      for (int64_t hq = 0; hq < heads; ++hq) softmax(scores.data() + hq * width, first, len);
      std::fill(ob, ob + heads * dim, 0.0f);
      for (int64_t l = first; l < len; ++l) {
        const float* value = vp + sb[l] * kv_heads * dim;
        for (int64_t hq = 0; hq < heads; ++hq)
          axpy(scores[hq * width + l], value + (hq / group) * dim, ob + hq * dim, dim);
      }
    }
  });
  return out;
}
