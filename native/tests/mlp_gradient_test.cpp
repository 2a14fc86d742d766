// Mlp::forwardBackward against a plain double-precision reference (loops, no GEMM, no epilogue,
// separate pre-activation and activation buffers) for every activation and both tasks: the loss
// and every parameter's gradient agree to float accuracy. Guards the fused epilogues and the
// in-place activations (ReLU and tanh keep no pre-activation).
#include <cmath>
#include <string>
#include <vector>

#include "mlp.hpp"
#include "rng.hpp"
#include "testing.hpp"
#include "thread_pool.hpp"

namespace {

double act(bp::Activation a, double z) {
  switch (a) {
    case bp::Activation::Relu: return z > 0 ? z : 0;
    case bp::Activation::Tanh: return std::tanh(z);
    case bp::Activation::Gelu: return 0.5 * z * (1 + std::erf(z / std::sqrt(2.0)));
  }
  return 0;
}

double actDerivative(bp::Activation a, double z) {
  switch (a) {
    case bp::Activation::Relu: return z > 0 ? 1 : 0;
    case bp::Activation::Tanh: return 1 - std::tanh(z) * std::tanh(z);
    case bp::Activation::Gelu:
      return 0.5 * (1 + std::erf(z / std::sqrt(2.0))) + z * std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI);
  }
  return 0;
}

// Loss and gradient of the batch in double, straight from the definitions.
double reference(const bp::ModelSpec& spec, const std::vector<float>& params, const std::vector<float>& x,
                 const std::vector<int32_t>& y, const std::vector<float>& t, int batch, std::vector<double>& grad) {
  const auto layers = bp::layoutOf(spec);
  const size_t L = layers.size();
  std::vector<std::vector<double>> z(L), a(L + 1);
  a[0].assign(x.begin(), x.end());
  for (size_t l = 0; l < L; ++l) {
    const auto& ly = layers[l];
    z[l].assign(static_cast<size_t>(batch) * ly.out, 0);
    a[l + 1].assign(static_cast<size_t>(batch) * ly.out, 0);
    for (int r = 0; r < batch; ++r)
      for (int o = 0; o < ly.out; ++o) {
        double s = params[ly.biasOffset + o];
        for (int i = 0; i < ly.in; ++i)
          s += params[ly.weightOffset + static_cast<size_t>(o) * ly.in + i] * a[l][static_cast<size_t>(r) * ly.in + i];
        z[l][static_cast<size_t>(r) * ly.out + o] = s;
        a[l + 1][static_cast<size_t>(r) * ly.out + o] = l + 1 == L ? s : act(spec.activation, s);
      }
  }
  const int out = spec.outputSize;
  std::vector<double> d(static_cast<size_t>(batch) * out);
  double loss = 0;
  for (int r = 0; r < batch; ++r) {
    const double* o = &a[L][static_cast<size_t>(r) * out];
    if (spec.task == bp::Task::Classification) {
      double m = o[0], sum = 0;
      for (int c = 1; c < out; ++c) m = std::max(m, o[c]);
      for (int c = 0; c < out; ++c) sum += std::exp(o[c] - m);
      loss += std::log(sum) + m - o[y[r]];
      for (int c = 0; c < out; ++c) d[static_cast<size_t>(r) * out + c] = (std::exp(o[c] - m) / sum - (c == y[r])) / batch;
    } else {
      for (int c = 0; c < out; ++c) {
        const double diff = o[c] - t[static_cast<size_t>(r) * out + c];
        loss += diff * diff / out;
        d[static_cast<size_t>(r) * out + c] = 2 * diff / (static_cast<double>(batch) * out);
      }
    }
  }
  loss /= batch;
  grad.assign(params.size(), 0);
  for (size_t l = L; l-- > 0;) {
    const auto& ly = layers[l];
    std::vector<double> dPrev(static_cast<size_t>(batch) * ly.in, 0);
    for (int r = 0; r < batch; ++r)
      for (int o = 0; o < ly.out; ++o) {
        const double g = d[static_cast<size_t>(r) * ly.out + o];
        grad[ly.biasOffset + o] += g;
        for (int i = 0; i < ly.in; ++i) {
          grad[ly.weightOffset + static_cast<size_t>(o) * ly.in + i] += g * a[l][static_cast<size_t>(r) * ly.in + i];
          dPrev[static_cast<size_t>(r) * ly.in + i] += g * params[ly.weightOffset + static_cast<size_t>(o) * ly.in + i];
        }
      }
    if (l == 0) break;
    for (size_t k = 0; k < dPrev.size(); ++k) dPrev[k] *= actDerivative(spec.activation, z[l - 1][k]);
    d.swap(dPrev);
  }
  return loss;
}

}  // namespace

TEST(mlp_gradients_match_a_double_precision_reference_for_every_activation) {
  bp::ThreadPool pool(2);
  for (bp::Activation activation : {bp::Activation::Relu, bp::Activation::Tanh, bp::Activation::Gelu}) {
    for (bp::Task task : {bp::Task::Classification, bp::Task::Regression}) {
      bp::ModelSpec spec;
      spec.inputSize = 13;
      spec.hidden = {40, 17};
      spec.outputSize = 4;
      spec.activation = activation;
      spec.task = task;
      bp::Mlp mlp(spec);
      const size_t n = mlp.parameterCount();
      std::vector<float> params(n), grad(n);
      bp::Rng rng(3, 9);
      bp::initParameters(spec, params.data(), rng);
      // More rows than one task of the loss takes (128), the last task partial.
      const int batch = 300;
      std::vector<float> x(static_cast<size_t>(batch) * spec.inputSize), t(static_cast<size_t>(batch) * spec.outputSize);
      std::vector<int32_t> y(batch);
      for (auto& v : x) v = 4.0f * rng.uniform() - 2.0f;
      for (auto& v : t) v = rng.uniform();
      for (auto& v : y) v = static_cast<int32_t>(rng.below(static_cast<uint32_t>(spec.outputSize)));
      std::vector<double> want;
      const double wantLoss = reference(spec, params, x, y, t, batch, want);
      for (bp::ThreadPool* p : {static_cast<bp::ThreadPool*>(nullptr), &pool}) {
        // Twice: the second pass runs on a workspace the first one left behind.
        for (int rep = 0; rep < 2; ++rep) {
          const float loss =
              mlp.forwardBackward(params.data(), grad.data(), x.data(), nullptr, y.data(), t.data(), batch, p);
          const std::string what = std::string(bp::activationName(activation)) + " " + bp::taskName(task);
          CHECK_NEAR(loss, wantLoss, 1e-5 * (1 + std::fabs(wantLoss)));
          double scale = 0;
          for (double g : want) scale = std::max(scale, std::fabs(g));
          for (size_t i = 0; i < n; ++i) {
            if (!(std::fabs(grad[i] - want[i]) <= 1e-4 * scale + 1e-7))
              throw bptest::Failure(what + ": gradient " + std::to_string(i) + " is " + std::to_string(grad[i]) +
                                    ", reference " + std::to_string(want[i]));
          }
        }
      }
    }
  }
}

// The loss is shared out over the pool in row chunks: the same bits for every thread count, and
// evaluate's accuracy counts every chunk's rows exactly once.
TEST(mlp_loss_split_over_threads_gives_the_same_bits_and_counts) {
  bp::ThreadPool pool3(3);
  bp::ModelSpec spec;
  spec.inputSize = 9;
  spec.hidden = {24};
  spec.outputSize = 5;
  bp::Mlp mlp(spec);
  const size_t n = mlp.parameterCount();
  std::vector<float> params(n), grad1(n), grad3(n);
  bp::Rng rng(5, 2);
  bp::initParameters(spec, params.data(), rng);
  const int batch = 517;
  std::vector<float> x(static_cast<size_t>(batch) * spec.inputSize);
  std::vector<int32_t> y(batch);
  for (auto& v : x) v = 2.0f * rng.uniform() - 1.0f;
  for (auto& v : y) v = static_cast<int32_t>(rng.below(static_cast<uint32_t>(spec.outputSize)));
  const float loss1 = mlp.forwardBackward(params.data(), grad1.data(), x.data(), nullptr, y.data(), nullptr, batch, nullptr);
  const float loss3 = mlp.forwardBackward(params.data(), grad3.data(), x.data(), nullptr, y.data(), nullptr, batch, &pool3);
  CHECK(loss1 == loss3);
  for (size_t i = 0; i < n; ++i)
    if (grad1[i] != grad3[i]) throw bptest::Failure("gradient " + std::to_string(i) + " differs with 3 threads");

  // Accuracy by hand from the predicted probabilities (first largest wins, as the loss counts it).
  std::vector<float> probs(static_cast<size_t>(batch) * spec.outputSize);
  mlp.predict(params.data(), x.data(), batch, probs.data(), nullptr);
  size_t right = 0;
  for (int r = 0; r < batch; ++r) {
    const float* p = &probs[static_cast<size_t>(r) * spec.outputSize];
    int best = 0;
    for (int c = 1; c < spec.outputSize; ++c)
      if (p[c] > p[best]) best = c;
    right += best == y[r];
  }
  for (bp::ThreadPool* p : {static_cast<bp::ThreadPool*>(nullptr), &pool3}) {
    const bp::EvalResult e = mlp.evaluate(params.data(), x.data(), y.data(), nullptr, nullptr, batch, p);
    CHECK(e.rows == static_cast<size_t>(batch));
    CHECK_NEAR(e.accuracy, static_cast<double>(right) / batch, 1e-12);
    CHECK_NEAR(e.loss, loss1, 1e-5);
  }
}
