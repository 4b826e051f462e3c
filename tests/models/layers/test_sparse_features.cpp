// The sparse input projection against the dense path it replaces: fc(dropout(replace_rows(x, nodes, token))).

#include "fixtures/graphmae2_batch.h"
#include "graph/ops/dropout.h"
#include "graph/ops/spmm.h"
#include "models/graphmae2/graphmae2.h"
#include "models/layers/sparse_features.h"

#include <gtest/gtest.h>

namespace g2 = graphmae2::models::graphmae2;
using graphmae2::models::layers::masked_sparse_linear;
using graphmae2::models::layers::SparseFeatures;

namespace {

// Bag-of-words-like rows: about `density` of the entries non-zero, one row left empty, row-normalised.
torch::Tensor sparse_rows(int64_t n, int64_t d, double density, torch::Dtype dtype) {
  auto x = (torch::rand({n, d}, torch::TensorOptions().dtype(dtype)) < density).to(dtype);
  x[1].zero_();
  return x / x.sum(1, true).clamp_min(1);
}

graphmae2::graph::CsrGraph ring(int64_t n) {
  auto a = torch::arange(n, torch::kInt64);
  auto b = (a + 1) % n;
  return graphmae2::graph::CsrGraph::from_edges(torch::cat({a, b, a}), torch::cat({b, a, a}), n);
}

TEST(SparseFeatures, KeepsExactlyTheNonZerosRowByRow) {
  torch::manual_seed(0);
  auto x = sparse_rows(9, 7, 0.3, torch::kFloat);
  auto s = SparseFeatures::from_dense(x);
  EXPECT_EQ(s.values.numel(), x.ne(0).sum().item<int64_t>());
  EXPECT_DOUBLE_EQ(s.density(), static_cast<double>(s.values.numel()) / 63.0);
  EXPECT_TRUE(torch::equal(s.to_dense(), x));
  const auto* ip = s.pattern.indptr.data_ptr<int64_t>();
  const auto row_ids = s.pattern.row_ids();
  EXPECT_EQ(ip[2] - ip[1], 0) << "row 1 is empty";
  for (int64_t r = 0; r < 9; ++r) {
    for (int64_t e = ip[r]; e < ip[r + 1]; ++e) {
      const int64_t c = s.pattern.indices[e].item<int64_t>();
      EXPECT_EQ(row_ids[e].item<int64_t>(), r);
      EXPECT_EQ(s.values[e].item<float>(), x[r][c].item<float>());
    }
  }
  EXPECT_THROW(SparseFeatures::from_dense(torch::ones({3})), c10::Error);
}

TEST(MaskedSparseLinear, EqualsTheDensePathInValueAndGradient) {
  torch::manual_seed(1);
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  auto x = sparse_rows(12, 10, 0.25, torch::kDouble);
  auto sparse = SparseFeatures::from_dense(x);
  auto nodes = torch::tensor({3, 0, 7, 1}, torch::kInt64);
  for (bool with_token : {true, false}) {
    auto w_dense = torch::randn({5, 10}, opts).requires_grad_();
    auto token_dense = torch::randn({1, 10}, opts).requires_grad_();
    auto w_sparse = w_dense.detach().clone().requires_grad_();
    auto token_sparse = token_dense.detach().clone().requires_grad_();
    auto dense = torch::mm(g2::replace_rows(x, nodes, with_token ? token_dense : torch::Tensor()), w_dense.t());
    auto sparse_out = masked_sparse_linear(sparse, w_sparse, nodes, with_token ? token_sparse : torch::Tensor(), 0.3,
                                           /*training=*/false);
    EXPECT_TRUE(torch::allclose(sparse_out, dense, 1e-12, 1e-12));
    auto g = torch::randn({12, 5}, opts);
    (dense * g).sum().backward();
    (sparse_out * g).sum().backward();
    EXPECT_TRUE(torch::allclose(w_sparse.grad(), w_dense.grad(), 1e-12, 1e-12));
    if (with_token) EXPECT_TRUE(torch::allclose(token_sparse.grad(), token_dense.grad(), 1e-12, 1e-12));
  }
  // No nodes replaced: plain x @ W^T.
  auto w = torch::randn({5, 10}, opts);
  EXPECT_TRUE(torch::allclose(masked_sparse_linear(sparse, w, torch::Tensor(), torch::Tensor(), 0.0, true),
                              torch::mm(x, w.t()), 1e-12, 1e-12));
  EXPECT_THROW(masked_sparse_linear(sparse, torch::randn({5, 9}, opts), nodes, torch::Tensor(), 0.0, false),
               c10::Error);
}

TEST(MaskedSparseLinear, WithDropoutEqualsTheDensePathUnderTheSameDraws) {
  // The op drops the stored values first, then the token rows' entries (graph::dropout, one draw of the generator
  // each): replaying those draws on the dense matrix gives the reference, value and gradient.
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  const double p = 0.4;
  auto x = sparse_rows(12, 10, 0.3, torch::kDouble);
  auto sparse = SparseFeatures::from_dense(x);
  auto nodes = torch::tensor({3, 0, 7, 1}, torch::kInt64);
  auto w = torch::randn({5, 10}, opts).requires_grad_();
  auto token = torch::randn({1, 10}, opts).requires_grad_();
  torch::manual_seed(5);
  auto out = masked_sparse_linear(sparse, w, nodes, token, p, /*training=*/true);
  torch::manual_seed(5);
  auto keep_values = graphmae2::graph::dropout_scales({sparse.values.numel()}, p, opts);
  auto keep_rows = graphmae2::graph::dropout_scales({nodes.numel(), 10}, p, opts);
  auto dropped = SparseFeatures{sparse.pattern, sparse.values * keep_values}.to_dense();
  auto w_ref = w.detach().clone().requires_grad_();
  auto token_ref = token.detach().clone().requires_grad_();
  auto rows = torch::zeros({12, 10}, opts).index_copy(0, nodes, token_ref.expand({4, 10}) * keep_rows);
  auto ref = torch::mm(g2::replace_rows(dropped, nodes, torch::Tensor()) + rows, w_ref.t());
  EXPECT_TRUE(torch::allclose(out, ref, 1e-12, 1e-12));
  auto g = torch::randn({12, 5}, opts);
  (out * g).sum().backward();
  (ref * g).sum().backward();
  EXPECT_TRUE(torch::allclose(w.grad(), w_ref.grad(), 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(token.grad(), token_ref.grad(), 1e-12, 1e-12));
}

TEST(MaskedSparseLinear, AWeightStoredTransposedGivesTheSameBitsAndAGradientInItsLayout) {
  const auto opts = torch::TensorOptions().dtype(torch::kFloat);
  auto x = sparse_rows(40, 33, 0.2, torch::kFloat);
  auto sparse = SparseFeatures::from_dense(x);
  const auto nodes = torch::tensor({3, 0, 17, 1, 39}, torch::kInt64);
  auto w = torch::randn({24, 33}, opts).requires_grad_();
  auto wt = w.detach().clone().requires_grad_();
  graphmae2::models::layers::store_transposed(wt);
  const auto storage = wt.data_ptr();
  graphmae2::models::layers::store_transposed(wt);  // already transposed: left alone
  ASSERT_EQ(wt.data_ptr(), storage);
  ASSERT_TRUE(wt.t().is_contiguous());
  ASSERT_TRUE(torch::equal(w, wt));
  auto token = torch::randn({1, 33}, opts).requires_grad_();
  auto token_t = token.detach().clone().requires_grad_();
  const auto g = torch::randn({40, 24}, opts);
  torch::manual_seed(9);
  (masked_sparse_linear(sparse, w, nodes, token, 0.3, true) * g).sum().backward();
  torch::manual_seed(9);
  const auto out = masked_sparse_linear(sparse, wt, nodes, token_t, 0.3, true);
  (out * g).sum().backward();
  torch::manual_seed(9);
  EXPECT_TRUE(torch::equal(out, masked_sparse_linear(sparse, w, nodes, token, 0.3, true)));
  EXPECT_TRUE(torch::equal(wt.grad(), w.grad()));
  EXPECT_TRUE(torch::equal(token_t.grad(), token.grad()));
  EXPECT_EQ(wt.grad().strides(), wt.strides()) << "the gradient arrives in the weight's own layout";
  auto one_dimensional = token.detach().view({33});
  EXPECT_THROW(graphmae2::models::layers::store_transposed(one_dimensional), c10::Error);
}

TEST(MaskedSparseLinear, SeveralWeightsProjectOneDropoutDraw) {
  // Two weights in one call: the same dropped input (values and token rows) for both, so the two outputs are the
  // stacked weight's output split, in value and gradient.
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  auto x = sparse_rows(30, 20, 0.25, torch::kDouble);
  auto sparse = SparseFeatures::from_dense(x);
  const auto nodes = torch::tensor({4, 0, 29, 13}, torch::kInt64);
  auto w1 = torch::randn({6, 20}, opts).requires_grad_(), w2 = torch::randn({3, 20}, opts).requires_grad_();
  auto token = torch::randn({1, 20}, opts).requires_grad_();
  auto stacked = torch::cat({w1, w2}).detach().requires_grad_();
  auto token_ref = token.detach().clone().requires_grad_();
  const auto g = torch::randn({30, 9}, opts);
  for (const bool training : {true, false}) {
    torch::manual_seed(21);
    const auto outs = masked_sparse_linear(sparse, {w1, w2}, nodes, token, 0.4, training);
    torch::manual_seed(21);
    const auto ref = masked_sparse_linear(sparse, stacked, nodes, token_ref, 0.4, training);
    ASSERT_EQ(outs.size(), 2u);
    EXPECT_TRUE(torch::allclose(torch::cat(outs, 1), ref, 1e-12, 1e-12)) << "training " << training;
    (torch::cat(outs, 1) * g).sum().backward();
    (ref * g).sum().backward();
    EXPECT_TRUE(torch::allclose(torch::cat({w1.grad(), w2.grad()}), stacked.grad(), 1e-12, 1e-12));
    EXPECT_TRUE(torch::allclose(token.grad(), token_ref.grad(), 1e-12, 1e-12));
    for (auto* t : {&w1, &w2, &stacked, &token, &token_ref}) t->mutable_grad().zero_();
  }
  EXPECT_THROW(masked_sparse_linear(sparse, std::vector<torch::Tensor>{}, nodes, token, 0.4, true), c10::Error);
  EXPECT_THROW(masked_sparse_linear(sparse, {w1, torch::randn({3, 19}, opts)}, nodes, token, 0.4, true), c10::Error);
}

TEST(MaskedSparseLinear, TheCpuSparseProductGivesTheSameBitsOnOneAndTwoThreadsAndEqualsSpmm) {
  // On the CPU the projection runs LibTorch's sparse CSR product; graph::spmm (the other devices' path) sums each
  // entry's terms in the same pattern order.
  torch::manual_seed(4);
  auto x = sparse_rows(600, 500, 0.02, torch::kFloat);
  auto sparse = SparseFeatures::from_dense(x);
  const auto nodes = torch::randperm(600).narrow(0, 0, 200);
  const auto g = torch::randn({600, 64});
  const int threads = at::get_num_threads();
  std::vector<torch::Tensor> outs, grads;
  for (const int t : {1, 2}) {
    at::set_num_threads(t);
    torch::manual_seed(0);
    auto w = torch::randn({64, 500}).requires_grad_();
    torch::manual_seed(7);
    const auto out = masked_sparse_linear(sparse, w, nodes, torch::Tensor(), 0.2, true);
    (out * g).sum().backward();
    outs.push_back(out.detach());
    grads.push_back(w.grad());
  }
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(outs[0], outs[1]));
  EXPECT_TRUE(torch::equal(grads[0], grads[1]));
  // The same product through graph::spmm, from the dropped values the op used (the first draw after the seed).
  torch::manual_seed(0);
  auto w = torch::randn({64, 500}).requires_grad_();
  auto keep = torch::ones({600});
  keep.index_fill_(0, nodes, 0);
  torch::manual_seed(7);
  const auto kept_values = sparse.values * keep.index_select(0, sparse.pattern.row_ids());
  const auto values = graphmae2::graph::dropout(kept_values, 0.2, true);
  const auto w_t = w.t().contiguous();
  const auto expected = graphmae2::graph::spmm(sparse.pattern, values.unsqueeze(1), w_t.unsqueeze(1)).squeeze(1);
  EXPECT_TRUE(torch::allclose(outs[0], expected, 1e-6, 1e-6));
  (expected * g).sum().backward();
  EXPECT_TRUE(torch::allclose(grads[0], w.grad(), 1e-5, 1e-5));
}

TEST(MaskedSparseLinear, DropoutIsUnbiasedLikeTheDensePath) {
  // E[dropout(v)] = v: the average over many draws approaches the no-dropout output.
  torch::manual_seed(2);
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  auto x = sparse_rows(6, 8, 0.5, torch::kDouble);
  auto sparse = SparseFeatures::from_dense(x);
  auto nodes = torch::tensor({2, 4}, torch::kInt64);
  auto w = torch::randn({3, 8}, opts);
  auto token = torch::randn({1, 8}, opts);
  auto expected = masked_sparse_linear(sparse, w, nodes, token, 0.5, /*training=*/false);
  auto sum = torch::zeros_like(expected);
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) sum += masked_sparse_linear(sparse, w, nodes, token, 0.5, /*training=*/true);
  // Single draws scatter by about 3 here, so the mean of 20000 is within ~0.07 (3 sigma); forgetting the
  // 1 / (1 - p) rescaling would be off by half of outputs as large as the one checked first.
  ASSERT_GT(expected.abs().max().item<double>(), 1.0);
  EXPECT_TRUE(torch::allclose(sum / draws, expected, 0.0, 0.1)) << (sum / draws - expected).abs().max();
  // A single draw does drop entries.
  EXPECT_FALSE(torch::allclose(masked_sparse_linear(sparse, w, nodes, token, 0.5, true), expected));
}

TEST(MaskedSparseLinear, GraphMAE2LossesAndGradientsMatchTheDenseModel) {
  torch::manual_seed(3);
  const int64_t n = 16, d = 12;
  auto graph = ring(n);
  auto x = sparse_rows(n, d, 0.3, torch::kFloat);
  auto sparse = SparseFeatures::from_dense(x);
  auto model = g2::GraphMAE2(g2::GraphMAE2Options(d).num_hidden(8).heads(2).num_layers(2));
  model->eval();  // no dropout: both paths compute the same function exactly
  g2::MaskPlan plan;
  plan.mask_nodes = torch::tensor({1, 5, 6, 11}, torch::kInt64);
  auto loss = graphmae2::testing::fixed_remask();
  loss.lam = 0.5;
  auto targets = torch::arange(n, torch::kInt64);
  auto dense = model->forward(graphmae2::testing::batch_of(graph, x, targets), plan, loss);
  dense.total.backward();
  std::vector<torch::Tensor> dense_grads;  // undefined for parameters this loss does not reach (dec_mask_token)
  for (const auto& p : model->student_parameters()) {
    dense_grads.push_back(p.grad().defined() ? p.grad().clone() : p.grad());
  }
  for (auto& p : model->student_parameters()) {
    if (p.grad().defined()) p.mutable_grad().zero_();
  }
  auto via_sparse = model->forward(graphmae2::testing::batch_of(graph, x, targets, &sparse), plan, loss);
  via_sparse.total.backward();
  EXPECT_NEAR(via_sparse.total.item<double>(), dense.total.item<double>(), 1e-5);
  EXPECT_NEAR(via_sparse.latent.item<double>(), dense.latent.item<double>(), 1e-5);
  const auto params = model->student_parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    ASSERT_EQ(params[i].grad().defined(), dense_grads[i].defined()) << "parameter " << i;
    if (dense_grads[i].defined()) {
      EXPECT_TRUE(torch::allclose(params[i].grad(), dense_grads[i], 1e-4, 1e-6)) << "parameter " << i;
    }
  }
  EXPECT_TRUE(torch::allclose(model->embed(graph, x, &sparse), model->embed(graph, x), 1e-5, 1e-6));
}

}  // namespace
