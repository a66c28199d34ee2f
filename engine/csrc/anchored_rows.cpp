// Rows prepared for fbgemm's dynamic int8 linear (engine/quantization.py, Int8Linear).
//
// fbgemm quantizes a whole activation tensor with one scale. Each row is divided by its own
// absolute maximum and an anchor row (+1, -1, 0...) is appended, so that scale is the same
// for every batch and every token gets its own precision. One pass here replaces the five
// torch calls (abs, amax, clamp, div, cat) this takes in Python, which dominate at batch 1.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <tuple>

// x [M, K] float32 -> (anchored [M + 1, K], peak [M, 1]): anchored[i] = x[i] / peak[i],
// peak[i] = max(max_j |x[i, j]|, 1e-12); the last row is the anchor.
std::tuple<torch::Tensor, torch::Tensor> anchored_rows(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 2 && x.scalar_type() == at::kFloat, "anchored_rows takes a 2-D float32 tensor");
  TORCH_CHECK(x.size(1) >= 2, "rows need at least two columns for the anchor");
  const auto rows = x.contiguous();
  const int64_t m = rows.size(0), k = rows.size(1);
  auto anchored = torch::empty({m + 1, k}, rows.options());
  auto peak = torch::empty({m, 1}, rows.options());
  const float* xp = rows.data_ptr<float>();
  float* ap = anchored.data_ptr<float>();
  float* pp = peak.data_ptr<float>();
  at::parallel_for(0, m, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* row = xp + i * k;
      float top = 0.0f;
      for (int64_t j = 0; j < k; ++j) top = std::max(top, std::fabs(row[j]));
      top = std::max(top, 1e-12f);
      pp[i] = top;
      float* out = ap + i * k;
      for (int64_t j = 0; j < k; ++j) out[j] = row[j] / top;
    }
  });
  std::fill(ap + m * k, ap + (m + 1) * k, 0.0f);
  ap[m * k] = 1.0f;
  ap[m * k + 1] = -1.0f;
  return {anchored, peak};
}
