// The decode step of a Llama-family model on CPU, as one C++ call.
//
// At decode batch sizes each layer is about forty small torch calls around four matrix
// products, and on CPU their Python and dispatch overhead cost more than the products
// themselves at batch 1. This runs the same layer (engine/models/llama.py, LlamaLayer, over
// engine/quantization.py's Int8Linear or engine/packed_linear.py's PackedLinear) for every
// layer in C++: RMSNorm, the fused q|k|v
// product, rotary embedding in place, K/V written to their cache slots, paged decode
// attention, the output product, then the gated MLP, with both residual adds in place.
// It is what CUDA graphs are to the GPU path: the same arithmetic without the launch cost.
#include <torch/extension.h>

#include "bounds.h"
#include "kv_rows.h"
#include <torch/csrc/jit/api/object.h>
#include <ATen/native/quantized/PackedParams.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <cmath>
#include <optional>
#include <tuple>
#include <vector>

torch::Tensor decode_attention(const torch::Tensor& q, const torch::Tensor& k_cache,
                               const torch::Tensor& v_cache, const torch::Tensor& slots,
                               const torch::Tensor& lengths, double scale, int64_t window);
std::tuple<torch::Tensor, torch::Tensor> anchored_rows(const torch::Tensor& x);
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps, double offset);

namespace {

// x (contiguous fp32) rounded to bf16, to nearest even as Tensor.to rounds it (c10's
// round_to_nearest_even, NaN to 0x7FC0). A plain loop: at decode sizes Tensor.to's dispatch and
// allocation cost several times the conversion, and a bf16 layer converts four inputs and four
// outputs. Written on the bits without a branch so the compiler vectorizes it; converting
// element by element through c10::BFloat16 cost a tenth of a c32 step.
torch::Tensor to_bf16(const torch::Tensor& x) {
  TORCH_CHECK(x.is_contiguous() && x.scalar_type() == at::kFloat, "to_bf16 takes a contiguous float32 tensor");
  auto out = torch::empty(x.sizes(), x.options().dtype(at::kBFloat16));
  const uint32_t* src = reinterpret_cast<const uint32_t*>(x.data_ptr<float>());
  uint16_t* dst = reinterpret_cast<uint16_t*>(out.data_ptr<at::BFloat16>());
  for (int64_t i = 0, n = x.numel(); i < n; ++i) {
    const uint32_t bits = src[i];
    const uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
    dst[i] = static_cast<uint16_t>((bits & 0x7FFFFFFFu) > 0x7F800000u ? 0x7FC0u : rounded);
  }
  return out;
}

// x (contiguous bf16) widened to fp32: bf16 is fp32's top half, so this is exact.
torch::Tensor to_float(const torch::Tensor& x) {
  TORCH_CHECK(x.is_contiguous() && x.scalar_type() == at::kBFloat16, "to_float takes a contiguous bf16 tensor");
  auto out = torch::empty(x.sizes(), x.options().dtype(at::kFloat));
  const uint16_t* src = reinterpret_cast<const uint16_t*>(x.data_ptr<at::BFloat16>());
  uint32_t* dst = reinterpret_cast<uint32_t*>(out.data_ptr<float>());
  for (int64_t i = 0, n = x.numel(); i < n; ++i) dst[i] = static_cast<uint32_t>(src[i]) << 16;
  return out;
}

// One linear map of a layer: Int8Linear.forward (rows over their maxima, plus the anchor row,
// through fbgemm, then each output row times its maximum, plus the bias) or
// PackedLinear.forward (oneDNN's product over the prepacked fp32 or bf16 weight).
struct Projection {
  c10::intrusive_ptr<LinearPackedParamsBase> int8;  // fbgemm's packed weight, or null
  torch::Tensor onednn;                              // oneDNN's packed weight, when int8 is null
  std::optional<torch::Tensor> bias;

  torch::Tensor operator()(const torch::Tensor& x) const { return int8 ? int8_product(x) : onednn_product(x); }

  torch::Tensor int8_product(const torch::Tensor& x) const {
    auto [anchored, peak] = anchored_rows(x);
    auto out = int8->apply_dynamic(anchored, /*reduce_range=*/false);
    const int64_t m = x.size(0), n = out.size(1);
    float* op = out.data_ptr<float>();
    const float* pp = peak.data_ptr<float>();
    const float* bp = bias ? bias->data_ptr<float>() : nullptr;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) op[i * n + j] = op[i * n + j] * pp[i] + (bp ? bp[j] : 0.0f);
    return out.narrow(0, 0, m);  // the leading rows of a contiguous tensor: still contiguous
  }

  // fp32 weights: x as it is, the bias inside. bf16 weights (AMX): x rounded to bf16, the
  // product back in fp32, the bias added in fp32 (PackedLinear.forward, the same steps).
  torch::Tensor onednn_product(const torch::Tensor& x) const {
    static const auto op = c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_linear_pointwise", "");
    const bool bf16 = onednn.scalar_type() == at::kBFloat16;
    std::vector<c10::IValue> stack{bf16 ? to_bf16(x) : x, onednn,
                                   bias && !bf16 ? c10::IValue(*bias) : c10::IValue(), std::string("none"),
                                   c10::List<std::optional<at::Scalar>>(), std::string("")};
    op.callBoxed(&stack);
    if (!bf16) return stack[0].toTensor();
    auto out = to_float(stack[0].toTensor());
    return bias ? out.add_(*bias) : out;
  }
};

// From Python: a PackedLinear's packed tensor or an Int8Linear's fbgemm object, and its bias.
Projection projection(const py::object& packed, std::optional<torch::Tensor> bias) {
  Projection p;
  if (THPVariable_Check(packed.ptr())) {
    p.onednn = packed.cast<torch::Tensor>();
  } else {
    auto object = packed.cast<torch::jit::Object>();
    p.int8 = c10::IValue(object._ivalue()).toCustomClass<LinearPackedParamsBase>();
  }
  if (bias) p.bias = bias->contiguous();
  return p;
}

struct Layer {
  torch::Tensor input_norm, post_attention_norm;
  Projection qkv, o, gate_up, down;
  int64_t window;  // <= 0: full attention
};

// x[i] * cos[i] + x[(i + d/2) % d] * sin[i] for each head of each row, in place; sin carries
// rotate_half's sign (engine/models/layers.py, Rotary). Rounded as torch's addcmul rounds it
// (x * cos first, then one fused multiply-add), so the K cache matches the Python layers.
void rotate(float* rows, int64_t batch, int64_t row_stride, int64_t heads, int64_t dim,
            const float* cos, const float* sin) {
  const int64_t half = dim / 2;
  std::vector<float> head(dim);
  for (int64_t b = 0; b < batch; ++b) {
    const float* c = cos + b * dim;
    const float* s = sin + b * dim;
    for (int64_t h = 0; h < heads; ++h) {
      float* x = rows + b * row_stride + h * dim;
      std::copy(x, x + dim, head.begin());
      for (int64_t i = 0; i < dim; ++i) x[i] = std::fma(head[(i + half) % dim], s[i], head[i] * c[i]);
    }
  }
}

// cache[slots[b]] = rows[b, first : first + kv_heads * dim] for each row b, rounded to the
// cache's dtype as torch rounds it (to nearest even), or quantized as kv_format.encode does.
template <typename T>
void write_rows(const float* rows, int64_t batch, int64_t row_stride, int64_t first, int64_t kv_heads, int64_t dim,
                const int64_t* slots, T* cache) {
  const CacheRows<T> layout{cache, kv_heads, dim};
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < kv_heads; ++h) {
      const float* x = rows + b * row_stride + first + h * dim;
      T* out = cache + layout.offset(slots[b], h);
      if constexpr (std::is_same_v<T, int8_t>) {
        quantize_row(x, dim, out);
      } else {
        for (int64_t j = 0; j < dim; ++j) out[j] = static_cast<T>(x[j]);
      }
    }
}

void write_cache(const float* rows, int64_t batch, int64_t row_stride, int64_t first, int64_t kv_heads, int64_t dim,
                 const int64_t* slots, const torch::Tensor& cache) {
  const auto write = [&](auto* data) { write_rows(rows, batch, row_stride, first, kv_heads, dim, slots, data); };
  switch (cache.scalar_type()) {
    case at::kFloat: write(cache.data_ptr<float>()); break;
    case at::kHalf: write(cache.data_ptr<at::Half>()); break;
    case at::kBFloat16: write(cache.data_ptr<at::BFloat16>()); break;
    case at::kChar: write(cache.data_ptr<int8_t>()); break;
    default: TORCH_CHECK(false, "KV caches must be fp32, fp16, bf16 or int8, got ", cache.scalar_type());
  }
}

// silu(gate) * up for [gate | up] rows -> [batch, n]; torch's silu (its vectorized exp), so the
// result matches the Python layers bit for bit.
torch::Tensor gated(const torch::Tensor& gate_up) {
  const int64_t n = gate_up.size(1) / 2;
  return at::silu(gate_up.narrow(1, 0, n)).mul_(gate_up.narrow(1, n, n));
}

}  // namespace

class FusedDecoder {
 public:
  FusedDecoder(int64_t heads, int64_t kv_heads, int64_t head_dim, double eps, double scale)
      : heads_(heads), kv_heads_(kv_heads), head_dim_(head_dim), eps_(eps), scale_(scale) {}

  void add_layer(const torch::Tensor& input_norm, const py::object& qkv, std::optional<torch::Tensor> qkv_bias,
                 const py::object& o, std::optional<torch::Tensor> o_bias, const torch::Tensor& post_attention_norm,
                 const py::object& gate_up, std::optional<torch::Tensor> gate_up_bias, const py::object& down,
                 std::optional<torch::Tensor> down_bias, int64_t window) {
    layers_.push_back({input_norm.contiguous(), post_attention_norm.contiguous(), projection(qkv, qkv_bias),
                       projection(o, o_bias), projection(gate_up, gate_up_bias), projection(down, down_bias),
                       window});
  }

  // x [B, hidden]: one new token per sequence; caches [S, kv_heads, head_dim (+ 4 if int8)] per layer;
  // slots [B] where each new token's K/V go; gather [B, L] and lengths [B] as decode_attention
  // takes them; cos, sin [B, head_dim]. Returns the last layer's output [B, hidden].
  torch::Tensor forward(const torch::Tensor& x, const std::vector<torch::Tensor>& k_caches,
                        const std::vector<torch::Tensor>& v_caches, const torch::Tensor& slots,
                        const torch::Tensor& gather, const torch::Tensor& lengths, const torch::Tensor& cos,
                        const torch::Tensor& sin) const {
    TORCH_CHECK(x.dim() == 2 && x.scalar_type() == at::kFloat, "x must be [batch, hidden] float32");
    TORCH_CHECK(k_caches.size() == layers_.size() && v_caches.size() == layers_.size(), "one K and V cache per layer");
    TORCH_CHECK(cos.numel() == x.size(0) * head_dim_ && sin.numel() == cos.numel(), "cos/sin must be [batch, head_dim]");
    TORCH_CHECK(cos.scalar_type() == at::kFloat && sin.scalar_type() == at::kFloat, "cos/sin must be float32");
    TORCH_CHECK(slots.scalar_type() == at::kLong && slots.numel() == x.size(0), "slots must be [batch] int64");
    const auto slot = slots.contiguous();
    for (size_t i = 0; i < layers_.size(); ++i) {
      const int64_t width = head_dim_ + (k_caches[i].scalar_type() == at::kChar ? kScaleBytes<int8_t> : 0);
      TORCH_CHECK(k_caches[i].dim() == 3 && k_caches[i].size(1) == kv_heads_ && k_caches[i].size(2) == width &&
                      v_caches[i].sizes() == k_caches[i].sizes() &&
                      v_caches[i].scalar_type() == k_caches[i].scalar_type(),
                  "layer ", i, "'s caches must be [slots, ", kv_heads_, ", ", width, "] of one dtype");
      check_slots(slot.data_ptr<int64_t>(), slot.numel(), k_caches[i].size(0), "slots");
    }
    const auto c = cos.contiguous(), s = sin.contiguous();
    auto hidden = x.contiguous().clone();
    for (size_t i = 0; i < layers_.size(); ++i)
      step(layers_[i], hidden, k_caches[i], v_caches[i], slot, gather, lengths, c, s);
    return hidden;
  }

  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }

 private:
  void step(const Layer& layer, torch::Tensor& hidden, const torch::Tensor& k_cache, const torch::Tensor& v_cache,
            const torch::Tensor& slots, const torch::Tensor& gather, const torch::Tensor& lengths,
            const torch::Tensor& cos, const torch::Tensor& sin) const {
    TORCH_CHECK(k_cache.is_contiguous() && v_cache.is_contiguous(), "caches must be contiguous");
    const int64_t batch = hidden.size(0), q_width = heads_ * head_dim_, kv_width = kv_heads_ * head_dim_;
    auto qkv = layer.qkv(rms_norm(hidden, layer.input_norm, eps_, 0.0));
    const int64_t row = qkv.size(1);
    TORCH_CHECK(row == q_width + 2 * kv_width, "q|k|v width does not match the head shapes");
    float* qp = qkv.data_ptr<float>();
    rotate(qp, batch, row, heads_ + kv_heads_, head_dim_, cos.data_ptr<float>(), sin.data_ptr<float>());
    write_cache(qp, batch, row, q_width, kv_heads_, head_dim_, slots.data_ptr<int64_t>(), k_cache);
    write_cache(qp, batch, row, q_width + kv_width, kv_heads_, head_dim_, slots.data_ptr<int64_t>(), v_cache);
    auto q = qkv.narrow(1, 0, q_width).reshape({batch, heads_, head_dim_});
    auto attn = decode_attention(q, k_cache, v_cache, gather, lengths, scale_, layer.window);
    hidden.add_(layer.o(attn.view({batch, q_width})));
    auto gate_up = layer.gate_up(rms_norm(hidden, layer.post_attention_norm, eps_, 0.0));
    hidden.add_(layer.down(gated(gate_up)));
  }

  int64_t heads_, kv_heads_, head_dim_;
  double eps_, scale_;
  std::vector<Layer> layers_;
};

void bind_fused_decoder(py::module& m) {
  py::class_<FusedDecoder>(m, "FusedDecoder", py::module_local())   // one per level's build: several may load in one process
      .def(py::init<int64_t, int64_t, int64_t, double, double>(), py::arg("heads"), py::arg("kv_heads"),
           py::arg("head_dim"), py::arg("eps"), py::arg("scale"))
      .def("add_layer", &FusedDecoder::add_layer)
      .def("forward", &FusedDecoder::forward, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("num_layers", &FusedDecoder::num_layers);
}
