// x @ W^T over an int8 table with one fp32 scale per row: the tied LM head reads the embedding
// table itself (engine/quantization.py, Int8TiedHead), so the model holds that table once.
//
// Activations are quantized per row to [-127, 127] and shifted by 128 to fit unsigned bytes,
// because x86's byte products take one unsigned and one signed operand. The shift adds
// 128 x sum(w) to each dot product, which the per-row weight sums (computed once at load) take
// back. The integer sums are exact, so a row's result does not depend on the other rows.
//
// AVX-512 VNNI (the avx512 and amx builds): vpdpbusd multiplies 64 byte pairs and adds each
// four into an int32 lane, without saturation, so weights keep all 8 bits (|w| <= 127).
// AVX2: vpmaddubsw adds pairs into int16, which saturates unless 2 x 255 x |w| < 32768, so
// weights keep 7 bits (|w| <= 63); vpmaddwd by ones widens the pairs to int32. The caller
// quantizes the table to the level its build needs (engine/quantization.py, weight_levels).
#include <torch/extension.h>
#include <ATen/Parallel.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

constexpr float kLevels = 127.0f;   // activation levels each side of zero
constexpr int kShift = 128;         // activation offset into unsigned bytes
constexpr int64_t kMaxK = 65536;    // keeps |sum| <= K x 255 x 127 inside int32
constexpr int kCols = 8;            // table rows per register tile: 8 accumulators, one vector of results
constexpr int64_t kBlock = 32;      // table rows per cache block (18 KB at K=576): stays in L1 over all rows of x
constexpr int64_t kAhead = 4096;    // prefetch distance in bytes while a block is first read from memory

struct Table {
  const int8_t* w;
  const float* scale;
  const int32_t* sums;
  int64_t k;
};

// Each row of x [m, k] as uint8 (q - 128 ~ x / scale) with its own scale.
void quantize_rows(const float* x, int64_t m, int64_t k, uint8_t* q, float* scale) {
  at::parallel_for(0, m, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* row = x + i * k;
      float top = 0.0f;
      for (int64_t j = 0; j < k; ++j) top = std::max(top, std::fabs(row[j]));
      const float inv = top > 0.0f ? kLevels / top : 0.0f;
      scale[i] = top / kLevels;
      for (int64_t j = 0; j < k; ++j) q[i * k + j] = static_cast<uint8_t>(std::nearbyint(row[j] * inv) + kShift);
    }
  });
}

#if defined(__AVX2__)
// Lane c of the result is the sum of v[c]'s lanes.
__m256i hsum8(const __m256i* v) {
  const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
  const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

#if defined(__AVX512VNNI__)
// acc[c] (8 int32 lanes) sums x[0, j) against table row c, j the largest multiple of 64 <= k.
template <bool Prefetch>
int64_t accumulate(const uint8_t* x, const int8_t* w, int64_t k, __m256i* acc) {
  __m512i wide[kCols];
  for (int c = 0; c < kCols; ++c) wide[c] = _mm512_setzero_si512();
  int64_t j = 0;
  for (; j + 64 <= k; j += 64) {
    const __m512i xv = _mm512_loadu_si512(x + j);
#pragma GCC unroll 8
    for (int c = 0; c < kCols; ++c) {
      if (Prefetch) _mm_prefetch(reinterpret_cast<const char*>(w + c * k + j + kAhead), _MM_HINT_T0);
      wide[c] = _mm512_dpbusd_epi32(wide[c], xv, _mm512_loadu_si512(w + c * k + j));
    }
  }
  for (int c = 0; c < kCols; ++c)
    acc[c] = _mm256_add_epi32(_mm512_castsi512_si256(wide[c]), _mm512_extracti64x4_epi64(wide[c], 1));
  return j;
}
#else
// acc[c] (8 int32 lanes) sums x[0, j) against table row c, j the largest multiple of 32 <= k.
template <bool Prefetch>
int64_t accumulate(const uint8_t* x, const int8_t* w, int64_t k, __m256i* acc) {
  const __m256i ones = _mm256_set1_epi16(1);
  for (int c = 0; c < kCols; ++c) acc[c] = _mm256_setzero_si256();
  int64_t j = 0;
  for (; j + 32 <= k; j += 32) {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + j));
#pragma GCC unroll 8
    for (int c = 0; c < kCols; ++c) {
      if (Prefetch) _mm_prefetch(reinterpret_cast<const char*>(w + c * k + j + kAhead), _MM_HINT_T0);
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + c * k + j));
      acc[c] = _mm256_add_epi32(acc[c], _mm256_madd_epi16(_mm256_maddubs_epi16(xv, wv), ones));
    }
  }
  return j;
}
#endif

// out[0, 0..8) = one row of x (quantized, scale xs) against table rows n..n+8. One row at a
// time is enough reuse: the multiplier instructions bound the loop, not loads.
template <bool Prefetch>
void tile(const uint8_t* x, float xs, const Table& t, int64_t n, float* out) {
  const int64_t k = t.k;
  const int8_t* w = t.w + n * k;
  __m256i acc[kCols];
  const int64_t j = accumulate<Prefetch>(x, w, k, acc);
  alignas(32) int32_t tail[kCols] = {};
  for (int c = 0; c < kCols; ++c)
    for (int64_t r = j; r < k; ++r) tail[c] += int32_t(x[r]) * int32_t(w[c * k + r]);  // the last K % 32 (or 64)
  __m256i dot = _mm256_add_epi32(hsum8(acc), _mm256_load_si256(reinterpret_cast<const __m256i*>(tail)));
  const __m256i sums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.sums + n));
  dot = _mm256_sub_epi32(dot, _mm256_slli_epi32(sums, 7));  // the 128 offset times sum(w)
  const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(xs), _mm256_loadu_ps(t.scale + n));
  _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_cvtepi32_ps(dot), scale));
}
#endif

// The same result for one table row (the last n % 8 rows; all of them without AVX2).
float dot_one(const uint8_t* x, float xs, const Table& t, int64_t n) {
  const int8_t* w = t.w + n * t.k;
  int32_t dot = 0;
  for (int64_t r = 0; r < t.k; ++r) dot += int32_t(x[r]) * int32_t(w[r]);
  dot -= kShift * t.sums[n];
  return static_cast<float>(dot) * (xs * t.scale[n]);
}

// Table rows [n0, n1) against every row of x; out is [m, ldo].
void block(const uint8_t* xq, const float* xs, int64_t m, const Table& t, int64_t n0, int64_t n1, float* out,
           int64_t ldo) {
#if defined(__AVX2__)
  const int64_t full = n0 + (n1 - n0) / kCols * kCols;
#else
  const int64_t full = n0;
#endif
  for (int64_t i = 0; i < m; ++i) {
    const uint8_t* x = xq + i * t.k;
    float* row = out + i * ldo;
#if defined(__AVX2__)
    for (int64_t c = n0; c < full; c += kCols) {
      if (i == 0) tile<true>(x, xs[i], t, c, row + c);   // first pass reads the block from memory
      else tile<false>(x, xs[i], t, c, row + c);
    }
#endif
    for (int64_t c = full; c < n1; ++c) row[c] = dot_one(x, xs[i], t, c);
  }
}

}  // namespace

// x [M, K] float32; qweight [N, K] int8 with |w| <= 127 on AVX-512 VNNI builds, <= 63 on the others
// (not checked: a per-call scan would cost as much as the product); scale [N] float32; row_sums [N] int32, each qweight row's sum.
// Returns [M, N] float32 ~ x @ (qweight * scale[:, None]).T, activations quantized per row.
torch::Tensor int8_matmul(const torch::Tensor& x, const torch::Tensor& qweight, const torch::Tensor& scale,
                          const torch::Tensor& row_sums) {
  TORCH_CHECK(x.dim() == 2 && x.scalar_type() == at::kFloat, "x must be a 2-D float32 tensor");
  TORCH_CHECK(qweight.dim() == 2 && qweight.scalar_type() == at::kChar, "qweight must be a 2-D int8 tensor");
  TORCH_CHECK(x.size(1) == qweight.size(1), "x and qweight disagree on K");
  const int64_t m = x.size(0), k = x.size(1), n = qweight.size(0);
  TORCH_CHECK(scale.scalar_type() == at::kFloat && scale.numel() == n, "one float32 scale per row");
  TORCH_CHECK(row_sums.scalar_type() == at::kInt && row_sums.numel() == n, "one int32 sum per row");
  TORCH_CHECK(k <= kMaxK, "K above ", kMaxK, " could overflow the int32 sums");
  const auto input = x.contiguous();
  const auto w = qweight.contiguous();
  const auto ws = scale.contiguous();
  const auto sums = row_sums.contiguous();
  auto out = torch::empty({m, n}, input.options());
  if (m == 0 || n == 0) return out;
  std::vector<uint8_t> xq(m * k);
  std::vector<float> xs(m);
  quantize_rows(input.data_ptr<float>(), m, k, xq.data(), xs.data());
  const Table t{w.data_ptr<int8_t>(), ws.data_ptr<float>(), sums.data_ptr<int32_t>(), k};
  float* op = out.data_ptr<float>();
  at::parallel_for(0, (n + kBlock - 1) / kBlock, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b)
      block(xq.data(), xs.data(), m, t, b * kBlock, std::min(n, (b + 1) * kBlock), op, n);
  });
  return out;
}
