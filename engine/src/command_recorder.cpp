// The public recorder and timestamps (vkconv/command_recorder.h, vkconv/profiling.h): a façade
// over host::CommandRecorder, which layers record with.
#include "vkconv/command_recorder.h"

#include "host/command.h"
#include "host/context.h"
#include "vkconv/error.h"
#include "vkconv/profiling.h"

namespace vkconv {

CommandRecorder::CommandRecorder(Context& ctx) : impl_(std::make_unique<host::CommandRecorder>(host::of(ctx))) {}
CommandRecorder::CommandRecorder(Context& ctx, vk::CommandBuffer external)
    : impl_(std::make_unique<host::CommandRecorder>(host::of(ctx), external)) {}
CommandRecorder::~CommandRecorder() = default;

vk::CommandBuffer CommandRecorder::command_buffer() const { return impl_->command_buffer(); }
bool CommandRecorder::is_external() const { return impl_->is_external(); }
void CommandRecorder::acquire(vk::PipelineStageFlags src_stages, vk::AccessFlags src_access) { impl_->acquire(src_stages, src_access); }
void CommandRecorder::release_to(vk::PipelineStageFlags dst_stages, vk::AccessFlags dst_access) { impl_->release_to(dst_stages, dst_access); }
void CommandRecorder::retire_after(vk::Fence fence) { impl_->retire_after(fence); }
void CommandRecorder::retire_after(vk::Semaphore timeline, uint64_t value) { impl_->retire_after(timeline, value); }
void CommandRecorder::set_command_buffer(vk::CommandBuffer external) { impl_->set_command_buffer(external); }
void CommandRecorder::reset_external() { impl_->reset_external(); }
void CommandRecorder::submit_and_wait() { impl_->submit_and_wait(); }
uint32_t CommandRecorder::dispatch_count() const { return impl_->dispatch_count(); }
bool CommandRecorder::empty() const { return impl_->empty(); }

struct TimestampQueries::State {
    host::Context* ctx;
    uint32_t count;
    bool supported = false;
    uint64_t valid_mask = 0;
    double period_ns = 1;
    vk::raii::QueryPool pool{nullptr};
};

TimestampQueries::TimestampQueries(Context& public_ctx, uint32_t count)
    : state_(std::make_unique<State>(State{&host::of(public_ctx), count})) {
    State& s = *state_;
    host::Context& ctx = *s.ctx;
    const auto families = ctx.physical_device().getQueueFamilyProperties();
    const uint32_t bits = families.at(ctx.queue_family()).timestampValidBits;
    s.supported = bits > 0 && ctx.info().timestamp_period_ns > 0 && count > 0;
    if (!s.supported) return;
    s.valid_mask = bits >= 64 ? ~uint64_t(0) : ((uint64_t(1) << bits) - 1);
    s.period_ns = ctx.info().timestamp_period_ns;
    s.pool = vk::raii::QueryPool(ctx.device(), vk::QueryPoolCreateInfo({}, vk::QueryType::eTimestamp, count), ctx.allocator());
}

TimestampQueries::~TimestampQueries() = default;
TimestampQueries::TimestampQueries(TimestampQueries&&) noexcept = default;
TimestampQueries& TimestampQueries::operator=(TimestampQueries&&) noexcept = default;

bool TimestampQueries::supported() const { return state_->supported; }

void TimestampQueries::reset(CommandRecorder& rec) {
    if (state_->supported) host::of(rec).reset_queries(*state_->pool, 0, state_->count);
}

void TimestampQueries::write(CommandRecorder& rec, uint32_t index) {
    if (!state_->supported) return;
    if (index >= state_->count) throw Error("TimestampQueries: index " + std::to_string(index) + " out of range");
    host::of(rec).write_timestamp(*state_->pool, index);
}

double TimestampQueries::elapsed_ns(uint32_t from, uint32_t to) const {
    const State& s = *state_;
    if (!s.supported) return -1;
    uint64_t v[2] = {0, 0};
    for (int i = 0; i < 2; ++i) {
        const auto r = (*s.ctx->device()).getQueryPoolResults(*s.pool, i == 0 ? from : to, 1, sizeof(uint64_t), &v[i], sizeof(uint64_t),
                                                              vk::QueryResultFlagBits::e64 | vk::QueryResultFlagBits::eWait);
        if (r != vk::Result::eSuccess) return -1;
    }
    return double((v[1] - v[0]) & s.valid_mask) * s.period_ns;
}

}  // namespace vkconv
