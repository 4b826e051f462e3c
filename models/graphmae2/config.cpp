#include "models/graphmae2/config.h"

#include "models/engine/config_schema.h"

#include <sstream>

namespace graphmae2::models::graphmae2 {

namespace {

using engine::enum_field;
using engine::enum_name;
using engine::EnumNames;
using C = GraphMAE2Config;

const EnumNames<OptimizerKind> kOptimizers{{OptimizerKind::adam, "adam"}, {OptimizerKind::adamw, "adamw"}};
template <typename E, size_t N>
EnumNames<E> names_of(const E (&values)[N]) {
  EnumNames<E> out;
  for (E v : values) out.emplace_back(v, layers::to_string(v));
  return out;
}
const EnumNames<layers::Activation> kActivations = names_of(layers::kActivations);
const EnumNames<layers::Norm> kNorms = names_of(layers::kNorms);
const EnumNames<RemaskMethod> kRemask{{RemaskMethod::fixed, "fixed"}, {RemaskMethod::random, "random"}};
const EnumNames<ReconstructionLoss> kLossFns{{ReconstructionLoss::sce, "sce"}, {ReconstructionLoss::mse, "mse"}};
const EnumNames<LatentLoss> kLatentLosses{{LatentLoss::sce, "sce"}, {LatentLoss::infonce, "infonce"}};
const EnumNames<MomentumSchedule> kSchedules{{MomentumSchedule::constant, "constant"},
                                             {MomentumSchedule::cosine, "cosine"}};
const EnumNames<Sampler> kSamplers{
    {Sampler::full, "full"}, {Sampler::lc, "lc"}, {Sampler::neighbor, "neighbor"}, {Sampler::saint, "saint"}};
const EnumNames<MatmulPrecision> kMatmulPrecisions{
    {MatmulPrecision::highest, "highest"}, {MatmulPrecision::high, "high"}, {MatmulPrecision::medium, "medium"}};
const EnumNames<FeatureDtype> kFeatureDtypes{{FeatureDtype::float32, "float32"}, {FeatureDtype::float16, "float16"}};
const EnumNames<FeatureStorage> kFeatureStorages{{FeatureStorage::memory, "memory"}, {FeatureStorage::disk, "disk"}};
const EnumNames<OnCollapse> kOnCollapse{
    {OnCollapse::advise, "advise"}, {OnCollapse::stop, "stop"}, {OnCollapse::retry, "retry"}};
const EnumNames<FeatureNorm> kFeatureNorms{
    {FeatureNorm::none, "none"}, {FeatureNorm::row, "row"}, {FeatureNorm::standard, "standard"}};

// Keys the reference has that do nothing here: a config or flag that sets one is an error saying why.
const std::vector<engine::ConfigSchema<C>::Removed> kRemovedKeys{
    {"encoder", "graphmae2's encoder is always GAT"},
    {"decoder", "graphmae2's decoder is always GAT"},
    {"replace_rate", "it had no effect, as in the reference"},
};

// Declaration order = order of the resolved YAML. Each key's range sits beside it; keys marked unaffected may
// differ when a run resumes (they do not change what pre-training computes).
const engine::ConfigSchema<C>& schema() {
  using engine::above;
  using engine::at_least;
  using engine::closed;
  using engine::closed_open;
  using engine::open;
  constexpr auto kFree = engine::Training::unaffected;
  static const engine::ConfigSchema<C> table(
      {
          {"dataset", &C::dataset},
          {"lr", &C::lr, above(0)},
          {"weight_decay", &C::weight_decay, at_least(0)},
          {"max_epoch", &C::max_epoch, at_least(0)},
          {"optimizer", enum_field(&C::optimizer, kOptimizers)},
          {"scheduler", &C::scheduler},
          {"max_grad_norm", &C::max_grad_norm, at_least(0)},
          {"num_hidden", &C::num_hidden, at_least(1)},
          {"num_heads", &C::num_heads, at_least(1)},
          {"num_out_heads", &C::num_out_heads, at_least(1)},
          {"num_layers", &C::num_layers, at_least(1)},
          {"num_dec_layers", &C::num_dec_layers, at_least(1)},
          {"activation", enum_field(&C::activation, kActivations)},
          {"in_drop", &C::in_drop, closed_open(0, 1)},
          {"attn_drop", &C::attn_drop, closed_open(0, 1)},
          {"negative_slope", &C::negative_slope, at_least(0)},
          {"norm", enum_field(&C::norm, kNorms)},
          {"residual", &C::residual},
          {"input_skip", &C::input_skip},
          {"fused_attention", &C::fused_attention},
          {"zero_init_tokens", &C::zero_init_tokens},
          {"mask_rate", &C::mask_rate, open(0, 1)},
          {"remask_rate", &C::remask_rate, closed_open(0, 1)},
          {"remask_method", enum_field(&C::remask_method, kRemask)},
          {"num_remasking", &C::num_remasking, at_least(1)},
          {"loss_fn", enum_field(&C::loss_fn, kLossFns)},
          {"alpha_l", &C::alpha_l, at_least(1)},
          {"lam", &C::lam, at_least(0)},
          {"use_reconstruction", &C::use_reconstruction},
          {"use_latent", &C::use_latent},
          {"latent_loss", enum_field(&C::latent_loss, kLatentLosses)},
          {"infonce_tau", &C::infonce_tau, above(0)},
          {"variance_reg", &C::variance_reg, at_least(0)},
          {"covariance_reg", &C::covariance_reg, at_least(0)},
          {"self_reconstruction", &C::self_reconstruction, at_least(0)},
          {"drop_edge_rate", &C::drop_edge_rate, closed_open(0, 1)},
          {"batch_size", &C::batch_size, at_least(1)},
          {"batch_size_f", &C::batch_size_f, at_least(1), kFree},
          {"fanouts", &C::fanouts},
          {"sampler", enum_field(&C::sampler, kSamplers)},
          {"ego_size", &C::ego_size, at_least(1)},
          {"lc_file", &C::lc_file, {}, kFree},
          {"saint_walk_length", &C::saint_walk_length, at_least(1)},
          {"feature_dtype", enum_field(&C::feature_dtype, kFeatureDtypes)},
          {"feature_storage", enum_field(&C::feature_storage, kFeatureStorages)},
          {"loader_workers", &C::loader_workers, closed(0, 64), kFree},
          {"max_steps", &C::max_steps, at_least(0), kFree},
          {"momentum", &C::momentum, closed(0, 1)},
          {"delayed_ema_epoch", &C::delayed_ema_epoch, at_least(0)},
          {"momentum_schedule", enum_field(&C::momentum_schedule, kSchedules)},
          {"lr_f", &C::lr_f, above(0), kFree},
          {"weight_decay_f", &C::weight_decay_f, at_least(0), kFree},
          {"max_epoch_f", &C::max_epoch_f, at_least(1), kFree},
          {"linear_prob", &C::linear_prob, {}, kFree},
          {"feature_norm", enum_field(&C::feature_norm, kFeatureNorms)},
          {"symmetrize", &C::symmetrize},
          {"sparse_input", &C::sparse_input},
          {"save_every", &C::save_every, at_least(0), kFree},
          {"save_every_minutes", &C::save_every_minutes, at_least(0), kFree},
          {"diag_every", &C::diag_every, at_least(0), kFree},
          {"on_collapse", enum_field(&C::on_collapse, kOnCollapse), {}, kFree},
          {"num_threads", &C::num_threads, at_least(0), kFree},
          {"matmul_precision", enum_field(&C::matmul_precision, kMatmulPrecisions)},
      },
      engine::ConfigSchema<C>::Strings::bare, {}, kRemovedKeys);
  return table;
}

std::string schema_list(const std::vector<int64_t>& values) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < values.size(); ++i) os << (i ? ", " : "") << values[i];
  os << "]";
  return os.str();
}

}  // namespace

std::string GraphMAE2Config::matmul_precision_name() const { return enum_name(kMatmulPrecisions, matmul_precision); }

const std::vector<std::string>& GraphMAE2Config::keys() {
  static const std::vector<std::string> k = schema().keys();
  return k;
}

const std::vector<std::string>& GraphMAE2Config::bool_keys() {
  static const std::vector<std::string> k = schema().bool_keys();
  return k;
}

const std::vector<std::string>& GraphMAE2Config::flag_names() {
  static const std::vector<std::string> k = schema().flag_names();
  return k;
}

const std::vector<std::string>& GraphMAE2Config::bool_flag_names() {
  static const std::vector<std::string> k = schema().bool_flag_names();
  return k;
}

const std::vector<std::string>& GraphMAE2Config::keys_not_affecting_training() {
  static const std::vector<std::string> k = schema().keys_not_affecting_training();
  return k;
}

std::string GraphMAE2Config::key_table() { return schema().markdown(GraphMAE2Config()); }

const std::vector<std::pair<std::string, std::string>>& GraphMAE2Config::collapse_remedy() {
  // docs/diagnostics.md: of the advice and remedies measured on a graph that collapses, these together lift its
  // probe from chance to above the raw features': each node keeps (input_skip) and reconstructs
  // (self_reconstruction) its own centred features beside the masked nodes' reconstruction from neighbours
  // that carry little of them.
  static const std::vector<std::pair<std::string, std::string>> remedy{
      {"input_skip", "true"}, {"feature_norm", "standard"}, {"self_reconstruction", "1"}};
  return remedy;
}

GraphMAE2Config GraphMAE2Config::with_collapse_remedy(bool inputs_fixed) const {
  GraphMAE2Config out = *this;
  for (const auto& [key, value] : collapse_remedy()) {
    if (!(inputs_fixed && key == "feature_norm")) out.set(key, value, "on_collapse retry");
  }
  out.on_collapse = OnCollapse::advise;
  return out;
}

void GraphMAE2Config::set(const std::string& key, const std::string& value, const std::string& where) {
  schema().set(*this, key, value, where);
}

std::vector<std::string> GraphMAE2Config::apply_file(const std::string& path) {
  return schema().apply_file(*this, path);
}

std::vector<std::string> GraphMAE2Config::apply_text(const std::string& text, const std::string& source) {
  return schema().apply_text(*this, text, source, engine::ConfigSource::stored);
}

void GraphMAE2Config::apply_overrides(const std::vector<std::pair<std::string, std::string>>& overrides) {
  schema().apply_overrides(*this, overrides);
}

std::vector<std::string> GraphMAE2Config::differing_keys(const GraphMAE2Config& other,
                                                         const std::vector<std::string>& ignore) const {
  return schema().differing_keys(*this, other, ignore);
}

std::string GraphMAE2Config::to_yaml() const { return schema().to_yaml(*this); }

void GraphMAE2Config::validate() const {
  schema().check_ranges(*this);
  // The rules between keys.
  const auto require_in_range = [this](bool ok, const std::string& key, const std::string& value,
                                       const std::string& expected) {
    engine::require_in_range(ok, key, value, expected, key_origins);
  };
  const auto s = [](int64_t v) { return std::to_string(v); };
  require_in_range(num_hidden % num_heads == 0, "num_hidden", s(num_hidden),
                   "a positive multiple of num_heads = " + s(num_heads));
  require_in_range(num_hidden % num_out_heads == 0, "num_out_heads", s(num_out_heads),
                   "a divisor of num_hidden = " + s(num_hidden));
  require_in_range(use_reconstruction || use_latent || self_reconstruction > 0, "use_reconstruction", "false",
                   "true, or use_latent true, or self_reconstruction > 0: at least one branch must train");
  const std::string mini_batch = "needs a mini-batch sampler (lc, neighbor or saint): full-batch training computes on ";
  if (feature_dtype == FeatureDtype::float16 && sampler == Sampler::full) {
    throw std::invalid_argument("feature_dtype float16 " + mini_batch + "the whole float32 matrix");
  }
  if (feature_storage == FeatureStorage::disk && sampler == Sampler::full) {
    throw std::invalid_argument("feature_storage disk " + mini_batch + "the whole feature matrix");
  }
  if (feature_storage == FeatureStorage::disk && !linear_prob && sampler != Sampler::lc) {
    throw std::invalid_argument("feature_storage disk: fine-tuning (linear_prob false) of a " +
                                std::string(engine::enum_name(kSamplers, sampler)) +
                                " run uses the whole graph; use sampler lc (fine-tuned on ego-graphs) or linear_prob "
                                "true");
  }
  if (sampler == Sampler::neighbor && fanouts.empty()) {
    throw std::invalid_argument("sampler neighbor needs fanouts, one per encoder layer (e.g. --fanouts 15,10,5)");
  }
  if (!fanouts.empty()) {
    require_in_range(static_cast<int64_t>(fanouts.size()) == num_layers, "fanouts", schema_list(fanouts),
                     "one entry per encoder layer: num_layers = " + s(num_layers));
    for (int64_t f : fanouts) {
      require_in_range(f == -1 || f >= 1, "fanouts", schema_list(fanouts), "entries >= 1, or -1 for all neighbours");
    }
  }
}

GraphMAE2Options GraphMAE2Config::model_options(int64_t in_dim) const {
  return GraphMAE2Options(in_dim)
      .num_hidden(num_hidden)
      .num_layers(num_layers)
      .num_dec_layers(num_dec_layers)
      .heads(num_heads)
      .out_heads(num_out_heads)
      .activation(activation)
      .feat_drop(in_drop)
      .attn_drop(attn_drop)
      .negative_slope(negative_slope)
      .residual(residual)
      .input_skip(input_skip)
      .self_decoder(self_reconstruction > 0.0)
      .fused_attention(fused_attention)
      .norm(norm)
      .zero_init_tokens(zero_init_tokens);
}

LossOptions GraphMAE2Config::loss_options() const {
  LossOptions o;
  o.remask_method = remask_method;
  o.loss_fn = loss_fn;
  o.alpha_l = alpha_l;
  o.lam = lam;
  o.use_reconstruction = use_reconstruction;
  o.use_latent = use_latent;
  o.latent_loss = latent_loss;
  o.infonce_tau = infonce_tau;
  o.variance_reg = variance_reg;
  o.covariance_reg = covariance_reg;
  o.self_reconstruction = self_reconstruction;
  return o;
}

eval::ProbeOptions GraphMAE2Config::probe_options(uint64_t seed) const {
  // Mini-batch runs probe in shuffled batches, as the reference's linear_probing_minibatch does.
  return eval::ProbeOptions{lr_f, weight_decay_f, max_epoch_f, seed,
                            sampler == Sampler::full ? 0 : eval::kMiniBatchProbeBatchSize};
}

}  // namespace graphmae2::models::graphmae2
