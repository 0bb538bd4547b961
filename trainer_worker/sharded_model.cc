#include "trainer_worker/sharded_model.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/StorageImpl.h>
#include <glog/logging.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>

#include <chrono>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/model/autocast.h"
#include "common/util/status_macros.h"

namespace ssd {

std::vector<FlatUnitLayout> PlanFlatUnits(const Decoder& model, int world_size) {
  std::vector<FlatUnitLayout> units(static_cast<size_t>(model.config().num_hidden_layers) + 1);
  for (size_t i = 0; i + 1 < units.size(); ++i) units[i].name = absl::StrCat("layers.", i);
  units.back().name = "root";
  for (const auto& [name, p] : model.Parameters()) {
    size_t u = units.size() - 1;
    if (absl::StartsWith(name, "layers.")) {
      u = static_cast<size_t>(std::stoll(name.substr(7, name.find('.', 7) - 7)));
    }
    FlatUnitLayout& unit = units[u];
    FlatParam fp;
    fp.name = name;
    fp.shape = p.sizes().vec();
    fp.offset = unit.numel;
    fp.numel = p.numel();
    fp.decayed = IsDecayed(name, p);
    unit.numel += fp.numel;
    unit.params.push_back(std::move(fp));
  }
  for (FlatUnitLayout& u : units) u.padded = (u.numel + world_size - 1) / world_size * world_size;
  return units;
}

struct ShardedModel::Unit {
  std::vector<size_t> param_index;  // into params_, in layout order
  at::Tensor full;                  // [padded]: the parameters view into it (freed when released)
  at::Tensor full_grad;             // [padded]: .grad views into it (root; every unit in optimizer)
  at::Tensor master;                // [n]: a chunk of `full`, or (full) a tensor of its own
  at::Tensor grad;                  // [n]: a chunk of full_grad, or a tensor of its own
  at::Tensor exp_avg, exp_avg_sq, denom;
  struct Slice {
    int64_t begin = 0;  // in the shard
    int64_t len = 0;
    bool decayed = false;
  };
  std::vector<Slice> slices;    // the parameters' parts that fall in this rank's shard
  bool master_is_view = false;  // master is a chunk of `full` (fp32, kept whole)
  bool grad_is_view = false;    // grad is a chunk of `full_grad` (fp32)
  bool gathered = true;
  CommQueue::Ticket gathering;  // an all-gather into `full` queued, not yet waited for
};

// A layer's gradients being reduce-scattered: `flat` holds this rank's sum
// once `ticket` has run, to be added to the unit's shard gradient.
struct ShardedModel::PendingReduce {
  size_t unit = 0;
  at::Tensor flat;
  CommQueue::Ticket ticket;
};

namespace {

using torch::autograd::variable_list;

void FreeStorage(const at::Tensor& t) {
  c10::StorageImpl* s = t.storage().unsafeGetStorageImpl();
  s->set_data_ptr_noswap(s->allocator()->allocate(0));
  s->set_nbytes(0);
}

void AllocateStorage(const at::Tensor& t) {
  c10::StorageImpl* s = t.storage().unsafeGetStorageImpl();
  const size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
  s->set_data_ptr_noswap(s->allocator()->allocate(bytes));
  s->set_nbytes(bytes);
}

void CheckOk(const absl::Status& s) { TORCH_CHECK(s.ok(), std::string(s.message())); }

// The backward of one layer run by ShardedModel::RunLayer: gathers the
// layer's parameters (full), recomputes its forward if it kept only its
// input, takes the gradients of the input and the parameters in one nested
// backward, and hands the parameters' to the model to reduce-scatter.
class ShardedLayerBackward : public torch::autograd::Node {
 public:
  ShardedLayerBackward(ShardedModel* owner, size_t unit, LayerFn layer, at::Tensor input, at::Tensor inner_in,
                       at::Tensor inner_out, bool input_needs_grad, Autocast autocast)
      : owner_(owner),
        unit_(unit),
        layer_(std::move(layer)),
        input_(std::move(input)),
        inner_in_(std::move(inner_in)),
        inner_out_(std::move(inner_out)),
        input_needs_grad_(input_needs_grad),
        autocast_(autocast) {}

  std::string name() const override { return "ssd::ShardedLayerBackward"; }

  variable_list apply(variable_list&& grads) override {
    TORCH_CHECK(layer_ != nullptr, "a sharded layer's backward ran twice; its graph is not kept (retain_graph)");
    owner_->GatherUnit(unit_);
    // Backward runs the layers last to first: the one before this is next.
    if (unit_ > 0) owner_->MaybePrefetch(unit_ - 1);
    at::Tensor x = inner_in_, y = inner_out_;
    if (!y.defined()) {  // checkpointed: run the forward again
      x = input_.detach().requires_grad_(input_needs_grad_);
      at::AutoGradMode on(true);
      AutocastScope autocast(autocast_);
      y = layer_(x);
    }
    std::vector<at::Tensor> params = owner_->UnitParameters(unit_);
    variable_list inputs;
    if (input_needs_grad_) inputs.push_back(x);
    inputs.insert(inputs.end(), params.begin(), params.end());
    // Every rank reduce-scatters every layer, so a missing incoming gradient
    // (nothing downstream used the output) still runs as zeros.
    at::Tensor dy = grads[0].defined() ? grads[0] : at::zeros_like(y);
    variable_list out = torch::autograd::grad({y}, inputs, {dy}, /*retain_graph=*/false, /*create_graph=*/false,
                                              /*allow_unused=*/true);
    at::Tensor dx = input_needs_grad_ ? out[0] : at::Tensor();
    owner_->ReduceLayerGradients(unit_, std::vector<at::Tensor>(out.begin() + (input_needs_grad_ ? 1 : 0), out.end()));
    owner_->ReleaseUnit(unit_);
    release_variables();
    return {dx};
  }

  void release_variables() override {
    input_.reset();
    inner_in_.reset();
    inner_out_.reset();
    layer_ = nullptr;
  }

 private:
  ShardedModel* const owner_;
  const size_t unit_;
  LayerFn layer_;
  at::Tensor input_;     // checkpointed: the layer's input
  at::Tensor inner_in_;  // not checkpointed: the graph kept from forward
  at::Tensor inner_out_;
  const bool input_needs_grad_;
  const Autocast autocast_;
};

}  // namespace

ShardedModel::ShardedModel(Decoder& model, ShardingMode mode, Collective& collective, const AdamWOptions& adamw,
                           at::ScalarType param_dtype, bool overlap)
    : model_(model),
      mode_(mode),
      param_dtype_(param_dtype),
      coll_(collective),
      adamw_(adamw),
      rank_(collective.rank()),
      world_(collective.world_size()),
      overlap_(overlap) {
  comm_.Start();
}

ShardedModel::~ShardedModel() { comm_.Shutdown(); }

absl::StatusOr<std::unique_ptr<ShardedModel>> ShardedModel::Create(Decoder& model, ShardingMode mode,
                                                                   Collective& collective, const AdamWOptions& adamw,
                                                                   at::ScalarType param_dtype, bool overlap) {
  if (mode == ShardingMode::kNone) return absl::InvalidArgumentError("sharding: ShardedModel needs a sharded mode");
  if (param_dtype != at::kFloat && param_dtype != at::kBFloat16) {
    return absl::InvalidArgumentError("param_dtype: the gathered parameters are fp32 or bf16");
  }
  std::unique_ptr<ShardedModel> m(new ShardedModel(model, mode, collective, adamw, param_dtype, overlap));
  try {
    RETURN_IF_ERROR(m->Init());
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("sharding the model: ", e.what_without_backtrace()));
  }
  return m;
}

bool ShardedModel::KeepsGathered(size_t unit) const { return mode_ != ShardingMode::kFull; }

absl::Status ShardedModel::Init() {
  at::NoGradGuard no_grad;
  params_ = model_.Parameters();
  layout_ = PlanFlatUnits(model_, world_);
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (params_[i].second.scalar_type() != at::kFloat) {
      return absl::FailedPreconditionError(absl::StrCat("sharding: parameter ", params_[i].first, " is ",
                                                        c10::toString(params_[i].second.scalar_type()),
                                                        "; the trainer keeps fp32 master weights"));
    }
    index[params_[i].first] = i;
  }
  const at::TensorOptions f32 = params_[0].second.options().dtype(at::kFloat).requires_grad(false);
  const at::TensorOptions compute = f32.dtype(param_dtype_);
  const size_t root = layout_.size() - 1;
  for (size_t u = 0; u < layout_.size(); ++u) {
    const FlatUnitLayout& l = layout_[u];
    auto unit = std::make_unique<Unit>();
    const int64_t n = l.ShardNumel(world_);
    // The fp32 values first (the masters keep them), then the parameters
    // become views into the unit's buffer in the compute dtype.
    at::Tensor values = at::zeros({l.padded}, f32);
    for (const FlatParam& fp : l.params)
      values.narrow(0, fp.offset, fp.numel).copy_(params_[index.at(fp.name)].second.view(-1));
    unit->full = param_dtype_ == at::kFloat ? values : values.to(param_dtype_);
    const bool grad_buffer = mode_ == ShardingMode::kOptimizer || u == root;
    if (grad_buffer) unit->full_grad = at::zeros({l.padded}, compute);
    for (const FlatParam& fp : l.params) {
      const size_t i = index.at(fp.name);
      unit->param_index.push_back(i);
      at::Tensor& p = params_[i].second;
      p.set_data(unit->full.narrow(0, fp.offset, fp.numel).view(fp.shape));
      p.mutable_grad() = grad_buffer ? unit->full_grad.narrow(0, fp.offset, fp.numel).view(fp.shape) : at::Tensor();
      const int64_t b = std::max(fp.offset, rank_ * n), e = std::min(fp.offset + fp.numel, (rank_ + 1) * n);
      if (b < e) unit->slices.push_back({b - rank_ * n, e - b, fp.decayed});
    }
    // fp32 parameters kept whole are their own masters; otherwise the master
    // shard is a tensor of its own.
    unit->master_is_view = param_dtype_ == at::kFloat && mode_ != ShardingMode::kFull;
    unit->master = unit->master_is_view ? ChunkOf(unit->full, rank_, world_) : ChunkOf(values, rank_, world_).clone();
    unit->grad_is_view = grad_buffer && param_dtype_ == at::kFloat;
    unit->grad = unit->grad_is_view ? ChunkOf(unit->full_grad, rank_, world_) : at::zeros({n}, f32);
    unit->exp_avg = at::zeros({n}, f32);
    unit->exp_avg_sq = at::zeros({n}, f32);
    unit->denom = at::zeros({n}, f32);
    units_.push_back(std::move(unit));
  }
  if (mode_ == ShardingMode::kFull) {
    for (size_t u = 0; u < units_.size(); ++u) ReleaseUnit(u);
  }
  return absl::OkStatus();
}

std::vector<at::Tensor> ShardedModel::UnitParameters(size_t unit) const {
  std::vector<at::Tensor> out;
  for (size_t i : units_[unit]->param_index) out.push_back(params_[i].second);
  return out;
}

absl::Status ShardedModel::WaitFor(const CommQueue::Ticket* ticket) {
  const auto t0 = std::chrono::steady_clock::now();
  absl::Status s = ticket != nullptr ? comm_.Wait(*ticket) : comm_.Drain();
  comm_wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

void ShardedModel::PrefetchUnit(size_t unit) {
  Unit& u = *units_[unit];
  if (u.gathered || u.gathering.valid()) return;
  at::NoGradGuard no_grad;
  AllocateStorage(u.full);
  // The source is made here, on the compute thread: the masters do not
  // change until Update, which runs after every queued collective.
  at::Tensor src = u.master.to(u.full.scalar_type());
  at::Tensor dst = u.full;
  u.gathering = comm_.Enqueue(absl::StrCat("all-gather of ", layout_[unit].name), [this, src, dst] {
    at::NoGradGuard no_grad;
    c10::DeviceGuard device(dst.device());  // the queue's thread starts on device 0
    return coll_.AllGather(src, dst);
  });
}

void ShardedModel::MaybePrefetch(size_t unit) {
  if (overlap_) PrefetchUnit(unit);
}

void ShardedModel::GatherUnit(size_t unit) {
  Unit& u = *units_[unit];
  if (u.gathered) return;
  PrefetchUnit(unit);
  const absl::Status s = WaitFor(&u.gathering);
  u.gathering = CommQueue::Ticket();
  CheckOk(s);
  u.gathered = true;
}

void ShardedModel::ReleaseUnit(size_t unit) {
  Unit& u = *units_[unit];
  if (u.gathering.valid()) {  // prefetched and never used: let it land first
    WaitFor(&u.gathering).IgnoreError();
    u.gathering = CommQueue::Ticket();
    u.gathered = true;
  }
  if (KeepsGathered(unit) || !u.gathered) return;
  FreeStorage(u.full);
  u.gathered = false;
}

void ShardedModel::ReduceLayerGradients(size_t unit, const std::vector<at::Tensor>& grads) {
  at::NoGradGuard no_grad;
  const FlatUnitLayout& l = layout_[unit];
  at::Tensor flat = at::zeros({l.padded}, units_[unit]->master.options());
  for (size_t j = 0; j < l.params.size(); ++j) {
    if (grads[j].defined()) flat.narrow(0, l.params[j].offset, l.params[j].numel).copy_(grads[j].reshape(-1));
  }
  // At most one layer's reduce-scatter in flight beside the one queued now,
  // so the gradient buffers waiting on the network stay two layers.
  CheckOk(FinishReduce());
  pending_reduce_ = std::make_unique<PendingReduce>();
  pending_reduce_->unit = unit;
  pending_reduce_->flat = flat;
  pending_reduce_->ticket = comm_.Enqueue(absl::StrCat("reduce-scatter of ", l.name, "'s gradients"), [this, flat] {
    at::NoGradGuard no_grad;
    c10::DeviceGuard device(flat.device());
    return coll_.ReduceScatterSumInPlace(flat);
  });
  if (!overlap_) CheckOk(FinishReduce());
}

absl::Status ShardedModel::FinishReduce() {
  if (pending_reduce_ == nullptr) return absl::OkStatus();
  std::unique_ptr<PendingReduce> p = std::move(pending_reduce_);
  RETURN_IF_ERROR(WaitFor(&p->ticket));
  // Added here, in queue order, so the shard sums as it did inline.
  units_[p->unit]->grad.add_(ChunkOf(p->flat, rank_, world_));
  return absl::OkStatus();
}

absl::Status ShardedModel::WaitForCommunication() {
  try {
    absl::Status s = FinishReduce();
    const absl::Status drained = WaitFor(nullptr);
    if (s.ok()) s = drained;
    for (size_t u = 0; u < units_.size(); ++u) {
      Unit& unit = *units_[u];
      if (!unit.gathering.valid()) continue;
      unit.gathering = CommQueue::Ticket();
      unit.gathered = true;
      // A prefetch no layer used (a step that ended early): give it back.
      if (!KeepsGathered(u) && u + 1 != units_.size()) ReleaseUnit(u);
    }
    return s;
  } catch (const c10::Error& e) {
    return absl::UnavailableError(absl::StrCat("layer communication: ", e.what_without_backtrace()));
  }
}

at::Tensor ShardedModel::RunLayer(int64_t index, const LayerFn& layer, const at::Tensor& x, bool checkpoint) {
  const size_t unit = static_cast<size_t>(index);
  GatherUnit(unit);
  // The next layer's parameters travel while this one computes; after the
  // last layer, its own again, for the backward that comes next.
  const size_t layers = units_.size() - 1;
  if (unit + 1 < layers) MaybePrefetch(unit + 1);
  if (!at::GradMode::is_enabled()) {
    at::Tensor y = layer(x);
    ReleaseUnit(unit);
    return y;
  }
  at::Tensor inner_in = x.detach().requires_grad_(x.requires_grad());
  at::Tensor inner_out = layer(inner_in);
  at::Tensor y = inner_out.detach();
  if (checkpoint) {
    inner_in.reset();
    inner_out.reset();
  }
  ReleaseUnit(unit);
  if (unit + 1 == layers) MaybePrefetch(unit);
  auto node = std::shared_ptr<ShardedLayerBackward>(
      new ShardedLayerBackward(this, unit, layer, checkpoint ? x.detach() : at::Tensor(), std::move(inner_in),
                               std::move(inner_out), x.requires_grad(), CurrentAutocast()),
      torch::autograd::deleteNode);
  node->set_next_edges(torch::autograd::collect_next_edges(x));
  torch::autograd::set_history(y, node);
  return y;
}

absl::Status ShardedModel::BeginStep() {
  RETURN_IF_ERROR(WaitForCommunication());
  comm_wait_seconds_ = 0;
  try {
    at::NoGradGuard no_grad;
    for (auto& u : units_) {
      if (u->full_grad.defined()) u->full_grad.zero_();
      u->grad.zero_();
    }
    GatherUnit(units_.size() - 1);
  } catch (const c10::Error& e) {
    return absl::UnavailableError(absl::StrCat("gathering the root parameters: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

absl::Status ShardedModel::FinishGradients() {
  RETURN_IF_ERROR(WaitForCommunication());
  at::NoGradGuard no_grad;
  for (auto& u : units_) {
    if (!u->full_grad.defined()) continue;
    if (u->grad_is_view) {
      RETURN_IF_ERROR(coll_.ReduceScatterSumInPlace(u->full_grad));
    } else {
      // bf16 gradients are reduced in fp32, as FSDP2's default.
      at::Tensor flat = u->full_grad.to(at::kFloat);
      RETURN_IF_ERROR(coll_.ReduceScatterSumInPlace(flat));
      u->grad.add_(ChunkOf(flat, rank_, world_));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<double> ShardedModel::GradNorm() {
  at::NoGradGuard no_grad;
  at::Tensor sq = at::zeros({1}, at::kDouble);
  for (auto& u : units_) sq.add_(u->grad.to(at::kDouble).pow(2).sum().cpu());
  if (world_ > 1) RETURN_IF_ERROR(coll_.AllReduceSum({sq}));
  return std::sqrt(sq.item<double>());
}

void ShardedModel::ScaleGradients(double coef) {
  at::NoGradGuard no_grad;
  for (auto& u : units_) u->grad.mul_(coef);
}

absl::Status ShardedModel::Update(double lr) {
  try {
    at::NoGradGuard no_grad;
    ++optimizer_steps_;
    for (auto& u : units_) {
      for (const Unit::Slice& s : u->slices) {
        at::Tensor p = u->master.narrow(0, s.begin, s.len);
        at::Tensor m = u->exp_avg.narrow(0, s.begin, s.len);
        at::Tensor v = u->exp_avg_sq.narrow(0, s.begin, s.len);
        at::Tensor d = u->denom.narrow(0, s.begin, s.len);
        AdamWUpdate(adamw_, lr, optimizer_steps_, s.decayed, p, u->grad.narrow(0, s.begin, s.len), m, v, d);
      }
    }
    if (mode_ == ShardingMode::kFull) {
      ReleaseUnit(units_.size() - 1);
    } else {
      RETURN_IF_ERROR(RefreshParameters());
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("sharded optimizer step: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

NamedTensors ShardedModel::ShardTensors() const {
  NamedTensors out;
  for (size_t u = 0; u < units_.size(); ++u) {
    out.emplace_back("master." + layout_[u].name, units_[u]->master);
    out.emplace_back("exp_avg." + layout_[u].name, units_[u]->exp_avg);
    out.emplace_back("exp_avg_sq." + layout_[u].name, units_[u]->exp_avg_sq);
  }
  return out;
}

absl::Status ShardedModel::LoadShardTensors(const std::map<std::string, at::Tensor>& tensors, int64_t optimizer_steps) {
  try {
    at::NoGradGuard no_grad;
    for (size_t u = 0; u < units_.size(); ++u) {
      Unit& unit = *units_[u];
      for (auto [prefix, dst] : {std::pair<const char*, at::Tensor*>{"master.", &unit.master},
                                 std::pair<const char*, at::Tensor*>{"exp_avg.", &unit.exp_avg},
                                 std::pair<const char*, at::Tensor*>{"exp_avg_sq.", &unit.exp_avg_sq}}) {
        const std::string name = prefix + layout_[u].name;
        auto it = tensors.find(name);
        if (it == tensors.end()) return absl::NotFoundError(absl::StrCat("sharded state: missing tensor ", name));
        if (it->second.numel() != dst->numel()) {
          return absl::FailedPreconditionError(absl::StrCat("sharded state: tensor ", name, " has ", it->second.numel(),
                                                            " elements but this rank's shard has ", dst->numel()));
        }
        dst->copy_(it->second.reshape(-1));
      }
    }
    optimizer_steps_ = optimizer_steps;
    if (mode_ != ShardingMode::kFull) RETURN_IF_ERROR(RefreshParameters());
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("loading sharded state: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

absl::Status ShardedModel::RefreshParameters() {
  RETURN_IF_ERROR(WaitForCommunication());
  for (auto& u : units_) {
    if (u->master_is_view) {
      RETURN_IF_ERROR(coll_.AllGatherInPlace(u->full));
    } else {
      RETURN_IF_ERROR(coll_.AllGather(u->master.to(u->full.scalar_type()), u->full));
    }
  }
  return absl::OkStatus();
}

absl::Status ShardedModel::ForEachGatheredUnit(const std::function<absl::Status(const FlatUnitLayout&)>& fn) {
  RETURN_IF_ERROR(WaitForCommunication());
  try {
    for (size_t u = 0; u < units_.size(); ++u) {
      if (param_dtype_ != at::kFloat) {
        // The fp32 masters, not their bf16 copies: for the call, each
        // parameter is a view into a gathered fp32 buffer.
        at::NoGradGuard no_grad;
        at::Tensor full32 = at::empty({layout_[u].padded}, units_[u]->master.options());
        RETURN_IF_ERROR(coll_.AllGather(units_[u]->master, full32));
        std::vector<at::Tensor> kept;
        for (size_t j = 0; j < layout_[u].params.size(); ++j) {
          at::Tensor& p = params_[units_[u]->param_index[j]].second;
          const FlatParam& fp = layout_[u].params[j];
          kept.push_back(p.detach());
          p.set_data(full32.narrow(0, fp.offset, fp.numel).view(fp.shape));
        }
        absl::Status s = fn(layout_[u]);
        for (size_t j = 0; j < kept.size(); ++j) params_[units_[u]->param_index[j]].second.set_data(kept[j]);
        RETURN_IF_ERROR(s);
        continue;
      }
      const bool was = units_[u]->gathered;
      GatherUnit(u);
      absl::Status s = fn(layout_[u]);
      if (!was) ReleaseUnit(u);
      RETURN_IF_ERROR(s);
    }
  } catch (const c10::Error& e) {
    return absl::UnavailableError(absl::StrCat("gathering parameters: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

absl::StatusOr<NamedTensors> ShardedModel::GatherParameters(const at::Device& device) {
  std::map<std::string, at::Tensor> got;
  RETURN_IF_ERROR(ForEachGatheredUnit([&](const FlatUnitLayout& l) {
    at::NoGradGuard no_grad;
    for (size_t i : units_[static_cast<size_t>(&l - layout_.data())]->param_index) {
      got[params_[i].first] = params_[i].second.detach().to(device, /*non_blocking=*/false, /*copy=*/true);
    }
    return absl::OkStatus();
  }));
  NamedTensors out;
  for (const auto& [name, p] : params_) out.emplace_back(name, got.at(name));
  return out;
}

int64_t ShardedModel::ModelStateBytes() const {
  int64_t bytes = 0;
  for (size_t u = 0; u < units_.size(); ++u) {
    const Unit& unit = *units_[u];
    auto b = [](const at::Tensor& t) { return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0; };
    if (unit.gathered) bytes += b(unit.full);
    bytes += b(unit.full_grad);
    if (!unit.master_is_view) bytes += b(unit.master);
    if (!unit.grad_is_view) bytes += b(unit.grad);
    bytes += b(unit.exp_avg) + b(unit.exp_avg_sq) + b(unit.denom);
  }
  return bytes;
}

}  // namespace ssd
