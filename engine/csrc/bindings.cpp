// The Python module of Airlock's CPU kernels (engine/kernels.py builds and loads it).
#include <torch/extension.h>

#include <tuple>

torch::Tensor decode_attention(const torch::Tensor& q, const torch::Tensor& k_cache,
                               const torch::Tensor& v_cache, const torch::Tensor& slots,
                               const torch::Tensor& lengths, double scale, int64_t window);
std::tuple<torch::Tensor, torch::Tensor> anchored_rows(const torch::Tensor& x);
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps, double offset);
torch::Tensor int8_matmul(const torch::Tensor& x, const torch::Tensor& qweight, const torch::Tensor& scale,
                          const torch::Tensor& row_sums);
void bind_fused_decoder(py::module& m);

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("decode_attention", &decode_attention, "paged decode attention (CPU, float32)");
  m.def("anchored_rows", &anchored_rows, "rows over their absolute maxima, plus the anchor row");
  m.def("rms_norm", &rms_norm, "RMSNorm, one pass per row (CPU, float32)");
  m.def("int8_matmul", &int8_matmul, "x @ (int8 table * row scale)^T, 7-bit table (CPU, AVX2)");
  bind_fused_decoder(m);
}
