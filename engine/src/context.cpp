// The public vkconv::Context: a façade over host::Context (host/context.h), which does the work.
#include "vkconv/context.h"

#include "host/context.h"

namespace vkconv {

Context::Context(const ContextOptions& options) : Context(std::make_unique<host::Context>(host::ContextOptions(options))) {}

Context::Context(const BorrowedDevice& borrowed, const ContextOptions& options)
    : Context(std::make_unique<host::Context>(borrowed, host::ContextOptions(options))) {}

Context::Context(std::unique_ptr<host::Context> impl) : impl_(std::move(impl)) { impl_->facade_ = this; }

Context::~Context() = default;

const DeviceInfo& Context::info() const { return impl_->info(); }
const ContextOptions& Context::options() const { return impl_->options(); }
bool Context::borrowed() const { return impl_->borrowed(); }

void Context::wait_idle() {
    impl_->check_usable();
    try {
        auto lock = impl_->lock_queue();
        impl_->queue().waitIdle();
    } catch (const vk::SystemError& e) {
        impl_->rethrow_vulkan_error(e, "waiting for the queue");
    }
    impl_->collect_retired();
}
void Context::collect_retired(bool wait) { impl_->collect_retired(wait); }

const std::string& Context::pipeline_cache_path() const { return impl_->pipeline_cache_path(); }
std::string Context::pipeline_cache_status() const { return impl_->pipeline_cache_status(); }
bool Context::save_pipeline_cache() { return impl_->save_pipeline_cache(); }
const std::string& Context::cache_dir() const { return impl_->cache_dir(); }

bool Context::lost() const { return impl_->lost(); }
std::string Context::lost_reason() const { return impl_->lost_reason(); }

uint64_t Context::live_bytes() const { return impl_->live_bytes(); }
uint64_t Context::live_allocations() const { return impl_->live_allocations(); }
uint64_t Context::submissions() const { return impl_->submissions(); }
uint64_t Context::host_transfers() const { return impl_->host_transfers(); }

std::vector<std::string> Context::validation_messages() const { return impl_->validation_messages(); }
void Context::clear_validation_messages() { impl_->clear_validation_messages(); }
bool Context::validation_enabled() const { return impl_->validation_enabled(); }
bool Context::pipeline_statistics_enabled() const { return impl_->pipeline_statistics_enabled(); }

std::unique_ptr<Context> detail::ContextAccess::make(const host::ContextOptions& options) {
    return std::unique_ptr<Context>(new Context(std::make_unique<host::Context>(options)));
}

}  // namespace vkconv
