// The SGD step gotch's optimizer runs (copied into gotch's libtch package by scripts/setup.sh, patch 13,
// which also makes ato_sgd build it).
//
// Why: libtorch 2.1's torch::optim::SGD::step looks each parameter's momentum buffer up in a hash map
// keyed by std::string — c10::guts::to_string of the TensorImpl pointer, an ostringstream per parameter
// per step — and takes two .data() shallow copies (a TensorImpl each) per parameter. That cost ~4 µs per
// parameter: a fifth of a small model's training step (DMI, 64 variables: 276 µs of 1.24 ms), and its
// four ATen ops per parameter cost ~0.9 µs each on small tensors. This step keeps the buffers in a map
// keyed by the TensorImpl pointer and updates each float32 CPU parameter in one pass that rounds exactly
// as the op sequence does (fusedUpdate); anything else (another dtype or device, a strided tensor, a CPU
// without FMA or whose ATen add-with-alpha is not one) runs the op sequence of libtorch's step, below
// autograd. Either way every value is bit-identical to torch::optim::SGD: bench/torchrt's
// TestSGDMatchesLibtorch checks both paths.
#include <torch/torch.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <cstring>
#include <unordered_map>

// No contraction of a*b+c into one fused multiply-add here: the fused update below rounds exactly where
// ATen's kernels round (FMAs only where ATen's add-with-alpha uses one).
#pragma GCC optimize("fp-contract=off")

namespace {

#if defined(__x86_64__)
// fusedUpdate is one parameter's SGD update in a single pass, computing per element exactly what the op
// sequence of libtorch's step computes: ATen's add with alpha (a + alpha·b) is one fused multiply-add on
// CPUs with FMA (probed at start-up by fusedMatchesATen: without a match the op sequence runs), its mul
// and add round once each, and scalars enter as float32, as ATen casts them. buf is null without
// momentum; first marks a buffer that takes d_p as it is (torch::clone of d_p). Eight elements at a
// time with AVX2 (an FMA there rounds each lane as the scalar one does), the rest one by one.
__attribute__((target("avx2,fma"))) void fusedUpdate(float* __restrict p, const float* __restrict g,
                                                     float* __restrict buf, int64_t n, float wd, bool decay,
                                                     float momentum, float damp1, bool nesterov, bool first,
                                                     float neg_lr) {
  int64_t i = 0;
  const __m256 vwd = _mm256_set1_ps(wd), vm = _mm256_set1_ps(momentum), vd1 = _mm256_set1_ps(damp1),
               vlr = _mm256_set1_ps(neg_lr);
  for (; i + 8 <= n; i += 8) {
    __m256 pv = _mm256_loadu_ps(p + i), d = _mm256_loadu_ps(g + i);
    if (decay) d = _mm256_fmadd_ps(pv, vwd, d);
    if (buf != nullptr) {
      __m256 b = d;
      if (!first) b = _mm256_fmadd_ps(d, vd1, _mm256_mul_ps(_mm256_loadu_ps(buf + i), vm));
      _mm256_storeu_ps(buf + i, b);
      d = nesterov ? _mm256_fmadd_ps(b, vm, d) : b;
    }
    _mm256_storeu_ps(p + i, _mm256_fmadd_ps(d, vlr, pv));
  }
  for (; i < n; i++) {
    float d = decay ? __builtin_fmaf(p[i], wd, g[i]) : g[i];  // d_p.add(p, weight_decay)
    if (buf != nullptr) {
      float b;
      if (first) {
        b = d;  // torch::clone(d_p)
      } else {
        b = buf[i] * momentum;            // buf.mul_(momentum)
        b = __builtin_fmaf(d, damp1, b);  // .add_(d_p, 1 - dampening)
      }
      buf[i] = b;
      d = nesterov ? __builtin_fmaf(b, momentum, d) : b;  // d_p.add(buf, momentum) or buf
    }
    p[i] = __builtin_fmaf(d, neg_lr, p[i]);  // p.add_(d_p, -lr)
  }
}

// fusedMatchesATen reports whether this CPU has AVX2 and FMA and ATen's add with alpha equals a fused
// multiply-add, bit for bit, on random values: vector bodies and scalar tails (lengths 1 to 70) and the
// kinds of alpha the step uses.
__attribute__((target("fma"))) bool fusedMatchesATen() {
  if (!__builtin_cpu_supports("fma") || !__builtin_cpu_supports("avx2")) {
    return false;
  }
  try {
    torch::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(12345);
    for (double alpha : {1e-4, -0.01, -0.5, 0.9, 1.0, 0.1234567, -3.3}) {
      for (int64_t n = 1; n <= 70; n++) {
        auto a = at::randn({n}, gen), b = at::randn({n}, gen);
        auto want = a.add(b, alpha).contiguous();
        auto m = a.mul(alpha).contiguous();
        const float *pa = a.data_ptr<float>(), *pb = b.data_ptr<float>(), *pw = want.data_ptr<float>(), *pm = m.data_ptr<float>();
        for (int64_t i = 0; i < n; i++) {
          float f = __builtin_fmaf(pb[i], float(alpha), pa[i]), x = pa[i] * float(alpha);
          if (std::memcmp(&f, &pw[i], sizeof f) != 0 || std::memcmp(&x, &pm[i], sizeof x) != 0) {
            return false;
          }
        }
      }
    }
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

#else
// Elsewhere (no AVX2/FMA code here) the op sequence always runs.
void fusedUpdate(float*, const float*, float*, int64_t, float, bool, float, float, bool, bool, float) {}
bool fusedMatchesATen() { return false; }
#endif

bool fusedOK() {
  static const bool ok = fusedMatchesATen();  // once per process
  return ok;
}

// fusable reports whether p's update can take the fused pass: float32 CPU tensors, contiguous, of one size.
bool fusable(const torch::Tensor& p, const torch::Tensor& g, const torch::Tensor* buf) {
  auto ok = [&](const torch::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous() && t.numel() == p.numel();
  };
  return fusedOK() && ok(p) && ok(g) && (buf == nullptr || !buf->defined() || ok(*buf));
}

class BenchSGD final : public torch::optim::SGD {
 public:
  explicit BenchSGD(const torch::optim::SGDOptions& options, bool fused = true)
      : torch::optim::SGD(std::vector<torch::Tensor>(), options), fused_(fused) {}

  torch::Tensor step(LossClosure closure = nullptr) override {
    torch::NoGradGuard no_grad;
    torch::Tensor loss = {};
    if (closure != nullptr) {
      at::AutoGradMode enable_grad(true);
      loss = closure();
    }
    // The update's ops go straight to the CPU kernels, past the autograd and ADInplaceOrView layers of
    // the dispatcher: nothing here is differentiated, and skipping ADInplaceOrView leaves the
    // parameters' version counters alone, as libtorch's p.data().add_(…) did.
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    for (auto& group : param_groups_) {
      auto& options = static_cast<torch::optim::SGDOptions&>(group.options());
      auto weight_decay = options.weight_decay();
      auto momentum = options.momentum();
      auto dampening = options.dampening();
      auto nesterov = options.nesterov();
      for (auto& p : group.params()) {
        const auto& grad = p.grad();
        if (!grad.defined()) {
          continue;
        }
        // The momentum buffer, looked up once (nullptr without momentum; undefined before the first step).
        torch::Tensor* buf = momentum != 0 ? &buffers_[p.unsafeGetTensorImpl()] : nullptr;
        if (fused_ && fusable(p, grad, buf)) {
          bool first = buf != nullptr && !buf->defined();
          if (first) {
            *buf = torch::empty_like(p, at::MemoryFormat::Contiguous);
          }
          fusedUpdate(p.data_ptr<float>(), grad.data_ptr<float>(), buf != nullptr ? buf->data_ptr<float>() : nullptr,
                      p.numel(), float(weight_decay), weight_decay != 0, float(momentum), float(1 - dampening),
                      nesterov, first, float(-1 * options.lr()));
          continue;
        }
        torch::Tensor d_p = grad;
        if (weight_decay != 0) {
          d_p = d_p.add(p, weight_decay);
        }
        if (buf != nullptr) {
          if (!buf->defined()) {
            *buf = torch::clone(d_p).detach();
          } else {
            buf->mul_(momentum).add_(d_p, 1 - dampening);
          }
          if (nesterov) {
            d_p = d_p.add(*buf, momentum);
          } else {
            d_p = *buf;
          }
        }
        p.add_(d_p, -1 * options.lr());
      }
    }
    return loss;
  }

 private:
  // Momentum buffers by parameter; a parameter holds its TensorImpl for the optimizer's life (the
  // param groups keep a reference), so the pointer cannot be reused by another tensor meanwhile.
  std::unordered_map<c10::TensorImpl*, torch::Tensor> buffers_;
  bool fused_;  // the single-pass update where fusable (false: always the op sequence, for the self-test)
};

}  // namespace

// bench_new_sgd is what ato_sgd returns (scripts/setup.sh, patch 13).
torch::optim::Optimizer* bench_new_sgd(const torch::optim::SGDOptions& options) {
  return new BenchSGD(options);
}

extern "C" {

// bench_sgd_selftest runs libtorch's torch::optim::SGD and BenchSGD (fused: the single-pass update where
// the CPU allows it; else the op sequence only) side by side on identical parameters (shapes with and
// without a vector tail, a parameter that never gets a gradient) for steps steps with the same random
// gradients, and returns how many parameter values differ in their bits at the end (0: identical), or
// -1 when libtorch failed.
int64_t bench_sgd_selftest(double lr, double momentum, double dampening, double weight_decay, int nesterov, int steps, int fused) {
  try {
    torch::NoGradGuard outer;  // the parameters are set up without a graph
    torch::manual_seed(11);
    auto options = torch::optim::SGDOptions(lr).momentum(momentum).dampening(dampening).weight_decay(weight_decay).nesterov(nesterov);
    std::vector<std::vector<int64_t>> shapes = {{32, 48}, {32}, {4, 32}, {4}, {7, 5}, {1}, {129}, {3, 3}};
    std::vector<torch::Tensor> a, b;
    for (const auto& sh : shapes) {
      auto x = torch::randn(sh);
      a.push_back(x.clone().set_requires_grad(true));
      b.push_back(x.clone().set_requires_grad(true));
    }
    BenchSGD ours(options, fused != 0);
    torch::optim::SGD ref(std::vector<torch::Tensor>(), options);
    for (size_t i = 0; i < a.size(); i++) {
      ours.param_groups()[0].params().push_back(a[i]);
      ref.param_groups()[0].params().push_back(b[i]);
    }
    for (int s = 0; s < steps; s++) {
      for (size_t i = 0; i + 1 < a.size(); i++) {  // the last parameter never gets a gradient
        auto g = torch::randn(shapes[i]);
        a[i].mutable_grad() = g.clone();
        b[i].mutable_grad() = g.clone();
      }
      ours.step();
      ref.step();
    }
    int64_t diff = 0;
    for (size_t i = 0; i < a.size(); i++) {
      auto ai = a[i].detach().view(torch::kInt32), bi = b[i].detach().view(torch::kInt32);
      diff += ai.ne(bi).sum().item<int64_t>();
    }
    return diff;
  } catch (const std::exception&) {
    return -1;
  }
}

// bench_sgd_fused reports whether SGD steps take the single-pass update on this CPU (1) or the op
// sequence (0).
int bench_sgd_fused() { return fusedOK() ? 1 : 0; }

}  // extern "C"
