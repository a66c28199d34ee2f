// Decode attention over the paged KV cache, reading K/V rows in place.
//
// One query token per sequence; each sequence is one work item, or several stretches of its
// positions when the batch is smaller than the thread count (merged by their softmax maxima). Every query head is scored
// against the sequence's cached keys (grouped-query heads share their KV head), softmaxed and
// summed over the cached values, reading every K/V row once, straight from its cache slot.
// The torch fallback (engine/attention.py) first gathers K/V into a padded batch and then
// reads it again; at a batch of 32 that copy and re-read is most of the attention time.
//
// The cache may hold fp32, fp16, bf16 or int8 rows with their scales (the engine's KV dtype,
// kv_rows.h); rows are widened to fp32 as they are read and all arithmetic is fp32. At a long
// context, or a batch of 32, the step reads more K/V than weights, so halving the cache's
// bytes shortens it.
#include <torch/extension.h>

#include "bounds.h"
#include "kv_rows.h"
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <utility>
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

// Slot s's rows (every KV head) as fp32 [kv_heads * dim]: the rows themselves, or widened
// into `buffer`.
inline const float* widen(const CacheRows<float>& cache, int64_t s, float*) { return cache.slot(s); }

inline const float* widen(const CacheRows<at::Half>& cache, int64_t s, float* buffer) {
  const at::Half* row = cache.slot(s);
  const int64_t n = cache.kv_heads * cache.dim;
  int64_t i = 0;
#ifdef __F16C__
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(buffer + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i))));
#endif
  for (; i < n; ++i) buffer[i] = static_cast<float>(row[i]);
  return buffer;
}

inline const float* widen(const CacheRows<at::BFloat16>& cache, int64_t s, float* buffer) {
  const uint16_t* bits = reinterpret_cast<const uint16_t*>(cache.slot(s));
  uint32_t* out = reinterpret_cast<uint32_t*>(buffer);
  for (int64_t i = 0, n = cache.kv_heads * cache.dim; i < n; ++i)
    out[i] = static_cast<uint32_t>(bits[i]) << 16;  // bf16 is fp32's top half
  return buffer;
}

inline const float* widen(const CacheRows<int8_t>& cache, int64_t s, float* buffer) {
  for (int64_t h = 0; h < cache.kv_heads; ++h) {
    const int8_t* row = cache.head(s, h);
    const float scale = row_scale(row, cache.dim);
    float* out = buffer + h * cache.dim;
    int64_t i = 0;
#ifdef __AVX2__
    for (; i + 8 <= cache.dim; i += 8) {
      const __m256i wide = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + i)));
      _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_cvtepi32_ps(wide), _mm256_set1_ps(scale)));
    }
#endif
    for (; i < cache.dim; ++i) out[i] = static_cast<float>(row[i]) * scale;
  }
  return buffer;
}

template <typename T>
void attend_generic(const float* qp, const CacheRows<T>& kc, const CacheRows<T>& vc, const int64_t* sp,
                    const int64_t* lp, float* op, int64_t batch, int64_t heads, int64_t width, float scale,
                    int64_t window) {
  const int64_t dim = kc.dim, group = heads / kc.kv_heads, row = kc.kv_heads * dim;
  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(heads * width), buffer(row);
    for (int64_t b = begin; b < end; ++b) {
      const int64_t len = std::min(lp[b], width);
      const int64_t first = window > 0 ? std::max<int64_t>(0, len - window) : 0;
      const float* qb = qp + b * heads * dim;
      float* ob = op + b * heads * dim;
      const int64_t* sb = sp + b * width;
      for (int64_t l = first; l < len; ++l) {               // a slot's K row holds every KV head
        const float* key = widen(kc, sb[l], buffer.data());
        for (int64_t hq = 0; hq < heads; ++hq)
          scores[hq * width + l] = dot(qb + hq * dim, key + (hq / group) * dim, dim) * scale;
      }
      for (int64_t hq = 0; hq < heads; ++hq) softmax(scores.data() + hq * width, first, len);
      std::fill(ob, ob + heads * dim, 0.0f);
      for (int64_t l = first; l < len; ++l) {
        const float* value = widen(vc, sb[l], buffer.data());
        for (int64_t hq = 0; hq < heads; ++hq)
          axpy(scores[hq * width + l], value + (hq / group) * dim, ob + hq * dim, dim);
      }
    }
  });
}

#if defined(__AVX2__) && defined(__FMA__)
// The vector path: head_dim a multiple of 8. Scores of eight positions at a time (one
// horizontal reduction per eight instead of one per score) and each head's output kept in
// registers across positions; that reduction and the load-add-store of the output dominated.
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const at::Half* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256 load8(const at::BFloat16* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

// [sum(v[0]), ..., sum(v[7])]
inline __m256 sum8(const __m256* v) {
  const __m256 ab = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
  const __m256 cd = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(ab, cd, 0x20), _mm256_permute2f128_ps(ab, cd, 0x31));
}

// e^x for x <= 0 (softmax after subtracting the maximum): 2^n e^r with r in [-ln2/2, ln2/2]
// and Cephes' degree-6 polynomial for e^r, about 1 ulp; below -87.3 it gives ~1e-38, not 0.
inline __m256 exp8(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);   // ln2 in two parts: exact n * hi
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(two_n));
}

// s[0:n] = exp(s[0:n] - max), eight at a time (scalar exp was a third of the step); returns
// the max and the sum. Normalizing waits until every stretch of the sequence is summed.
inline std::pair<float, float> exponentiate8(float* s, int64_t n) {
  __m256 top = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t l = 0;
  for (; l + 8 <= n; l += 8) top = _mm256_max_ps(top, _mm256_loadu_ps(s + l));  // a scalar max chain cost more
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, top);
  float peak = *std::max_element(lanes, lanes + 8);
  for (; l < n; ++l) peak = std::max(peak, s[l]);
  top = _mm256_set1_ps(peak);
  __m256 total8 = _mm256_setzero_ps();
  for (l = 0; l + 8 <= n; l += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + l), top));
    _mm256_storeu_ps(s + l, e);
    total8 = _mm256_add_ps(total8, e);
  }
  _mm256_store_ps(lanes, total8);
  float total = 0;
  for (float lane : lanes) total += lane;
  for (; l < n; ++l) total += (s[l] = std::exp(s[l] - peak));
  return {peak, total};
}

// scores[hq * width + l] = scale * q[hq] . K[l] (the KV head of hq) for l in [first, len). Eight
// positions at a time, every head against them while their rows are in L1: each K row is read
// from memory once, front to back, and a narrower row (fp16, bf16, int8) is widened once into
// `scratch` [8 x row], not once per query head that reads it.
template <typename T>
void score(const float* q, const CacheRows<T>& cache, const int64_t* slots, int64_t first, int64_t len,
           int64_t heads, int64_t width, float scale, float* scores, float* scratch) {
  const int64_t dim = cache.dim, group = heads / cache.kv_heads, row = cache.kv_heads * dim;
  for (int64_t l = first; l < len; l += 8) {
    const int64_t count = std::min<int64_t>(8, len - l);
    const float* keys[8];
    for (int64_t j = 0; j < 8; ++j)
      keys[j] = j < count ? widen(cache, slots[l + j], scratch + j * row) : keys[count - 1];
    for (int64_t hq = 0; hq < heads; ++hq) {
      const float* qh = q + hq * dim;
      const int64_t offset = (hq / group) * dim;
      __m256 acc[8];
      for (int64_t j = 0; j < 8; ++j) acc[j] = _mm256_setzero_ps();
      for (int64_t c = 0; c < dim; c += 8) {               // each q chunk loaded once for 8 rows
        const __m256 qc = _mm256_loadu_ps(qh + c);
        for (int64_t j = 0; j < 8; ++j) acc[j] = _mm256_fmadd_ps(qc, _mm256_loadu_ps(keys[j] + offset + c), acc[j]);
      }
      alignas(32) float sums[8];
      _mm256_store_ps(sums, _mm256_mul_ps(sum8(acc), _mm256_set1_ps(scale)));
      std::copy(sums, sums + count, scores + hq * width + l);
    }
  }
}

// out[hq] = sum over l of p[hq][l] * V[l] (the KV head of hq): eight positions at a time, every
// head, so each V row too is read once, front to back, and widened once into `scratch`; the
// outputs (heads x dim) stay in L1, loaded and stored once per eight positions.
template <typename T>
void weigh(const float* scores, const CacheRows<T>& cache, const int64_t* slots, int64_t first, int64_t len,
           int64_t heads, int64_t width, float* out, float* scratch) {
  const int64_t dim = cache.dim, group = heads / cache.kv_heads, row = cache.kv_heads * dim;
  std::fill(out, out + heads * dim, 0.0f);
  int64_t l = first;
  for (; l + 8 <= len; l += 8) {
    const float* values[8];
    for (int64_t j = 0; j < 8; ++j) values[j] = widen(cache, slots[l + j], scratch + j * row);
    for (int64_t hq = 0; hq < heads; ++hq) {
      const float* p = scores + hq * width + l;
      __m256 w[8];
      for (int64_t j = 0; j < 8; ++j) w[j] = _mm256_set1_ps(p[j]);
      const int64_t offset = (hq / group) * dim;
      float* o = out + hq * dim;
      for (int64_t c = 0; c < dim; c += 8) {
        __m256 acc = _mm256_loadu_ps(o + c);
        for (int64_t j = 0; j < 8; ++j) acc = _mm256_fmadd_ps(w[j], _mm256_loadu_ps(values[j] + offset + c), acc);
        _mm256_storeu_ps(o + c, acc);
      }
    }
  }
  for (; l < len; ++l) {
    const float* value = widen(cache, slots[l], scratch);
    for (int64_t hq = 0; hq < heads; ++hq) {
      const __m256 w = _mm256_set1_ps(scores[hq * width + l]);
      const float* v = value + (hq / group) * dim;
      float* o = out + hq * dim;
      for (int64_t c = 0; c < dim; c += 8) _mm256_storeu_ps(o + c, _mm256_fmadd_ps(w, _mm256_loadu_ps(v + c), _mm256_loadu_ps(o + c)));
    }
  }
}

#if defined(__AVX512F__)
// The AVX-512 path, head_dim 64 or 128: 16 lanes, and the query heads that share a KV head take
// each K/V chunk while it is in a register, so a row is widened once per KV head, not once per
// query head. Both passes go eight positions at a time through every head, so each cache row is
// read whole, once, and the next eight rows are prefetched: at long contexts the cache comes
// from L3 or memory, and a pass per KV head (strided reads) ran at a third of the bandwidth.
inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 load16(const at::Half* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline __m512 load16(const at::BFloat16* p) {
  const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}
inline __m512 load16(const int8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

// One KV head's row of 16 * kChunks values as fp32, an int8 row times its scale.
template <int kChunks, typename T>
inline void load_row16(const T* row, __m512 (&out)[kChunks]) {
  for (int c = 0; c < kChunks; ++c) out[c] = load16(row + 16 * c);
  if constexpr (std::is_same_v<T, int8_t>) {
    const __m512 scale = _mm512_set1_ps(row_scale(row, 16 * kChunks));
    for (int c = 0; c < kChunks; ++c) out[c] = _mm512_mul_ps(out[c], scale);
  }
}

inline __m256 halves(__m512 v) {  // lanes i and i + 8 summed: 8 partial sums for sum8
  return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
}

constexpr int64_t kAhead = 24;  // positions between a row's prefetch and its use

template <typename T>
inline void prefetch_rows(const CacheRows<T>& cache, const int64_t* slots, int64_t from, int64_t to) {
  const int64_t size = cache.slot_stride() * static_cast<int64_t>(sizeof(T));
  for (int64_t l = from; l < to; ++l) {
    const char* bytes = reinterpret_cast<const char*>(cache.slot(slots[l]));
    for (int64_t b = 0; b < size; b += 64) _mm_prefetch(bytes + b, _MM_HINT_T1);
  }
}

// The query heads [head, head + tiled) of one KV head, at most 16 / kChunks: their queries or
// outputs fill at most 16 registers.
struct Tile {
  int64_t head, tiled, kv;
};

inline std::vector<Tile> tiles(int64_t heads, int64_t group, int64_t most) {
  std::vector<Tile> out;
  for (int64_t head = 0; head < heads;) {
    const int64_t tiled = std::min(most, group - head % group);
    out.push_back({head, tiled, head / group});
    head += tiled;
  }
  return out;
}

// As `score`: scores[hq * n + l] = scale * q[hq] . K[l] for the n positions of a stretch.
template <int kChunks, typename T>
void score16(const float* q, const CacheRows<T>& cache, const int64_t* slots, int64_t n,
             const std::vector<Tile>& plan, float scale, float* scores) {
  constexpr int kTile = 16 / kChunks, kDim = 16 * kChunks;
  alignas(32) float partial[kTile][8][8];
  const __m256 scale8 = _mm256_set1_ps(scale);
  for (int64_t l = 0; l < n; l += 8) {
    const int64_t count = std::min<int64_t>(8, n - l);
    prefetch_rows(cache, slots, std::min(l + kAhead, n), std::min(l + kAhead + 8, n));
    for (const Tile& t : plan) {
      __m512 query[kTile][kChunks];
      for (int h = 0; h < kTile && h < t.tiled; ++h)
        for (int c = 0; c < kChunks; ++c) query[h][c] = _mm512_loadu_ps(q + (t.head + h) * kDim + 16 * c);
      for (int64_t j = 0; j < 8; ++j) {
        __m512 k[kChunks];
        load_row16<kChunks>(cache.head(slots[l + std::min(j, count - 1)], t.kv), k);
        for (int h = 0; h < kTile && h < t.tiled; ++h) {
          __m512 acc = _mm512_mul_ps(query[h][0], k[0]);
          for (int c = 1; c < kChunks; ++c) acc = _mm512_fmadd_ps(query[h][c], k[c], acc);
          _mm256_store_ps(partial[h][j], halves(acc));
        }
      }
      for (int h = 0; h < kTile && h < t.tiled; ++h) {
        __m256 rows[8];
        for (int j = 0; j < 8; ++j) rows[j] = _mm256_load_ps(partial[h][j]);
        alignas(32) float sums[8];
        _mm256_store_ps(sums, _mm256_mul_ps(sum8(rows), scale8));
        std::copy(sums, sums + count, scores + (t.head + h) * n + l);
      }
    }
  }
}

// As `weigh`: out[hq] = sum over l of p[hq][l] * V[l]; a tile's outputs stay in registers over
// sixteen positions.
template <int kChunks, typename T>
void weigh16(const float* scores, const CacheRows<T>& cache, const int64_t* slots, int64_t n,
             const std::vector<Tile>& plan, int64_t heads, float* out) {
  constexpr int kTile = 16 / kChunks, kDim = 16 * kChunks;
  std::fill(out, out + heads * kDim, 0.0f);
  for (int64_t l0 = 0; l0 < n; l0 += 16) {
    const int64_t l1 = std::min(l0 + 16, n);
    prefetch_rows(cache, slots, std::min(l0 + kAhead, n), std::min(l1 + kAhead, n));
    for (const Tile& t : plan) {
      __m512 acc[kTile][kChunks];
      for (int h = 0; h < kTile && h < t.tiled; ++h)
        for (int c = 0; c < kChunks; ++c) acc[h][c] = _mm512_loadu_ps(out + (t.head + h) * kDim + 16 * c);
      for (int64_t l = l0; l < l1; ++l) {
        __m512 v[kChunks];
        load_row16<kChunks>(cache.head(slots[l], t.kv), v);
        for (int h = 0; h < kTile && h < t.tiled; ++h) {
          const __m512 w = _mm512_set1_ps(scores[(t.head + h) * n + l]);
          for (int c = 0; c < kChunks; ++c) acc[h][c] = _mm512_fmadd_ps(w, v[c], acc[h][c]);
        }
      }
      for (int h = 0; h < kTile && h < t.tiled; ++h)
        for (int c = 0; c < kChunks; ++c) _mm512_storeu_ps(out + (t.head + h) * kDim + 16 * c, acc[h][c]);
    }
  }
}

// One stretch, every head: scores, their exponentials, the weighted values.
template <int kChunks, typename T>
void attend_stretch16(const float* q, const CacheRows<T>& kc, const CacheRows<T>& vc, const int64_t* slots,
                      int64_t n, int64_t heads, float scale, float* scores, float* peaks, float* totals,
                      float* out) {
  const auto plan = tiles(heads, heads / kc.kv_heads, 16 / kChunks);
  score16<kChunks>(q, kc, slots, n, plan, scale, scores);
  for (int64_t h = 0; h < heads; ++h) std::tie(peaks[h], totals[h]) = exponentiate8(scores + h * n, n);
  weigh16<kChunks>(scores, vc, slots, n, plan, heads, out);
}
#endif

// A stretch of one sequence's positions [first, last): the unit of work. A long sequence is
// cut into several stretches when the batch has fewer sequences than there are threads, so one
// stream's attention over a long context runs on every core, not one (split-K, "flash decoding").
struct Stretch {
  int64_t seq, first, last;
};

constexpr int64_t kMinStretch = 128;  // shorter stretches cost more in merging than they save

std::vector<Stretch> stretches(const int64_t* lp, int64_t batch, int64_t width, int64_t window, int64_t threads) {
  std::vector<Stretch> out;
  const int64_t wanted = std::max<int64_t>(1, (threads + batch - 1) / batch);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t len = std::min(lp[b], width);
    const int64_t first = window > 0 ? std::max<int64_t>(0, len - window) : 0;
    const int64_t parts = std::max<int64_t>(1, std::min(wanted, (len - first) / kMinStretch));
    for (int64_t p = 0; p < parts; ++p)
      out.push_back({b, first + (len - first) * p / parts, first + (len - first) * (p + 1) / parts});
  }
  return out;
}

// out[hq] = sum over stretches of e^(peak - top) * partial / sum of e^(peak - top) * total, per head
void merge(const std::vector<Stretch>& parts, const float* partial, const float* peaks, const float* totals,
           float* op, int64_t heads, int64_t dim) {
  for (size_t i = 0; i < parts.size();) {
    size_t j = i;
    while (j < parts.size() && parts[j].seq == parts[i].seq) ++j;
    float* ob = op + parts[i].seq * heads * dim;
    for (int64_t hq = 0; hq < heads; ++hq) {
      float top = -std::numeric_limits<float>::infinity(), total = 0;
      for (size_t p = i; p < j; ++p) top = std::max(top, peaks[p * heads + hq]);
      float* o = ob + hq * dim;
      std::fill(o, o + dim, 0.0f);
      for (size_t p = i; p < j; ++p) {
        const float w = std::exp(peaks[p * heads + hq] - top);
        total += w * totals[p * heads + hq];
        const float* src = partial + (p * heads + hq) * dim;
        for (int64_t c = 0; c < dim; ++c) o[c] += w * src[c];
      }
      const float inv = total > 0 ? 1.0f / total : 0.0f;
      for (int64_t c = 0; c < dim; ++c) o[c] *= inv;
    }
    i = j;
  }
}

template <typename T>
void attend_vector(const float* qp, const CacheRows<T>& kc, const CacheRows<T>& vc, const int64_t* sp,
                   const int64_t* lp, float* op, int64_t batch, int64_t heads, int64_t width, float scale,
                   int64_t window) {
  const int64_t dim = kc.dim, row = kc.kv_heads * dim;
  const auto parts = stretches(lp, batch, width, window, at::get_num_threads());
  const int64_t count = static_cast<int64_t>(parts.size());
  std::vector<float> partial(count * heads * dim), peaks(count * heads), totals(count * heads);
  at::parallel_for(0, count, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores, scratch(8 * row);   // scratch: eight K or V rows widened to fp32
    for (int64_t i = begin; i < end; ++i) {
      const Stretch& part = parts[i];
      const int64_t n = part.last - part.first;
      const int64_t* slots = sp + part.seq * width + part.first;
      scores.resize(std::max<int64_t>(1, heads * n));
      const float* q = qp + part.seq * heads * dim;
      float *peak = peaks.data() + i * heads, *total = totals.data() + i * heads;
      float* out = partial.data() + i * heads * dim;
#if defined(__AVX512F__)
      if (dim == 64 || dim == 128) {
        (dim == 64 ? attend_stretch16<4, T> : attend_stretch16<8, T>)(q, kc, vc, slots, n, heads, scale,
                                                                         scores.data(), peak, total, out);
        continue;
      }
#endif
      score(q, kc, slots, 0, n, heads, n, scale, scores.data(), scratch.data());
      for (int64_t hq = 0; hq < heads; ++hq) std::tie(peak[hq], total[hq]) = exponentiate8(scores.data() + hq * n, n);
      weigh(scores.data(), vc, slots, 0, n, heads, n, out, scratch.data());
    }
  });
  merge(parts, partial.data(), peaks.data(), totals.data(), op, heads, dim);
}
#endif

template <typename T>
void attend(const float* qp, const CacheRows<T>& kc, const CacheRows<T>& vc, const int64_t* sp, const int64_t* lp,
            float* op, int64_t batch, int64_t heads, int64_t width, float scale, int64_t window) {
#if defined(__AVX2__) && defined(__FMA__)
  if (kc.dim % 8 == 0) return attend_vector(qp, kc, vc, sp, lp, op, batch, heads, width, scale, window);
#endif
  attend_generic(qp, kc, vc, sp, lp, op, batch, heads, width, scale, window);
}

}  // namespace

// q [B, H, D]; k_cache, v_cache [S, KVH, D] (D + 4 bytes for int8, kv_rows.h); slots [B, L] cache slot of each position;
// lengths [B] positions each sequence attends (its new token included); window <= 0: none.
torch::Tensor decode_attention(const torch::Tensor& q, const torch::Tensor& k_cache,
                               const torch::Tensor& v_cache, const torch::Tensor& slots,
                               const torch::Tensor& lengths, double scale, int64_t window) {
  TORCH_CHECK(q.dim() == 3 && k_cache.dim() == 3 && v_cache.dim() == 3, "q and caches must be 3-D");
  TORCH_CHECK(q.scalar_type() == at::kFloat, "decode_attention takes float32 queries");
  TORCH_CHECK(k_cache.scalar_type() == v_cache.scalar_type(), "K and V caches must share a dtype");
  TORCH_CHECK(slots.scalar_type() == at::kLong && lengths.scalar_type() == at::kLong, "slots and lengths are int64");
  TORCH_CHECK(slots.dim() == 2, "slots must be [batch, positions] and lengths [batch]");
  TORCH_CHECK(k_cache.is_contiguous() && v_cache.is_contiguous(), "caches must be contiguous");
  const auto query = q.contiguous();
  const auto slot = slots.contiguous();
  const auto length = lengths.contiguous();
  const int64_t batch = query.size(0), heads = query.size(1), dim = query.size(2);
  const int64_t kv_heads = k_cache.size(1), width = slot.size(1);
  const int64_t scale_bytes = k_cache.scalar_type() == at::kChar ? kScaleBytes<int8_t> : 0;
  TORCH_CHECK(heads % kv_heads == 0 && k_cache.size(2) == dim + scale_bytes, "head shapes do not match");
  TORCH_CHECK(v_cache.sizes() == k_cache.sizes(), "K and V caches differ in shape");
  TORCH_CHECK(slot.size(0) == batch && length.numel() == batch, "slots must be [batch, positions] and lengths [batch]");
  check_gather(slot.data_ptr<int64_t>(), length.data_ptr<int64_t>(), batch, width, k_cache.size(0));
  auto out = torch::empty_like(query);
  const auto run = [&](auto* k, auto* v) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(k)>>;
    attend(query.data_ptr<float>(), CacheRows<T>{k, kv_heads, dim}, CacheRows<T>{v, kv_heads, dim},
           slot.data_ptr<int64_t>(), length.data_ptr<int64_t>(), out.data_ptr<float>(), batch, heads, width,
           static_cast<float>(scale), window);
  };
  switch (k_cache.scalar_type()) {
    case at::kFloat: run(k_cache.data_ptr<float>(), v_cache.data_ptr<float>()); break;
    case at::kHalf: run(k_cache.data_ptr<at::Half>(), v_cache.data_ptr<at::Half>()); break;
    case at::kBFloat16: run(k_cache.data_ptr<at::BFloat16>(), v_cache.data_ptr<at::BFloat16>()); break;
    case at::kChar: run(k_cache.data_ptr<int8_t>(), v_cache.data_ptr<int8_t>()); break;
    default: TORCH_CHECK(false, "decode_attention reads fp32, fp16, bf16 or int8 caches, got ", k_cache.scalar_type());
  }
  return out;
}
