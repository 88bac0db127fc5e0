#include "support/test_support.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>

namespace vkconv::test {

namespace {

// Messages the validation layer sends while a shared context is destroyed (e.g. "VkBuffer ...
// has not been destroyed" at vkDestroyDevice): collected here, which outlives the contexts.
std::mutex g_teardown_mutex;
std::vector<std::string> g_teardown_messages;
bool g_tearing_down = false;

std::unique_ptr<Context>& shared_context_slot(bool staging) {
    static std::unique_ptr<Context> contexts[2];
    return contexts[staging ? 1 : 0];
}

std::unique_ptr<Context>& shared_context(bool staging) {
    auto& ctx = shared_context_slot(staging);
    if (!ctx) {
        vkconv::testing::ContextOptions o;
        o.validation = true;
        o.sync_validation = true;
        o.force_staging = staging;
        // The tests' own cache directory: a user's `vkconv tune` results must not change which
        // algorithm Auto picks under test.
        o.cache_dir = VKCONV_TEST_CACHE_DIR;
        o.on_validation_message = [](const std::string& m) {
            std::lock_guard lock(g_teardown_mutex);
            if (g_tearing_down) g_teardown_messages.push_back(m);
        };
        ctx = vkconv::testing::make_context(o);
    }
    return ctx;
}

// Destroys the shared contexts before the test program ends and fails it on anything the
// validation layer reported while they were destroyed (leaked Vulkan objects).
class ContextEnvironment : public ::testing::Environment {
public:
    void TearDown() override {
        {
            std::lock_guard lock(g_teardown_mutex);
            g_tearing_down = true;
        }
        shared_context_slot(false).reset();  // (never creates one)
        shared_context_slot(true).reset();
        std::lock_guard lock(g_teardown_mutex);
        for (const auto& m : g_teardown_messages) ADD_FAILURE() << "at context destruction: " << m;
        g_teardown_messages.clear();
        g_tearing_down = false;
    }
};
[[maybe_unused]] ::testing::Environment* const g_environment = ::testing::AddGlobalTestEnvironment(new ContextEnvironment);

}  // namespace

Context& context() {
    auto& ctx = shared_context(false);
    return *ctx;
}

Context& staging_context() {
    auto& ctx = shared_context(true);
    return *ctx;
}

OwnedContext::OwnedContext(vkconv::testing::ContextOptions options)
    : messages_(std::make_shared<std::vector<std::string>>()), mutex_(std::make_shared<std::mutex>()) {
    options.validation = true;
    options.sync_validation = true;
    if (options.cache_dir.empty()) options.cache_dir = VKCONV_TEST_CACHE_DIR;
    options.on_validation_message = [m = messages_, mu = mutex_](const std::string& msg) {
        std::lock_guard lock(*mu);
        m->push_back(msg);
    };
    ctx_ = vkconv::testing::make_context(options);
}

std::vector<std::string> OwnedContext::destroy() {
    ctx_.reset();
    std::lock_guard lock(*mutex_);
    std::vector<std::string> out;
    out.swap(*messages_);
    return out;
}

OwnedContext::~OwnedContext() {
    for (const auto& m : destroy()) ADD_FAILURE() << "validation (own context): " << m;
}

namespace {
void fail_on_messages(Context& ctx) {
    const auto messages = ctx.validation_messages();
    for (const auto& m : messages) ADD_FAILURE() << m;
    ctx.clear_validation_messages();
}
}  // namespace

void VulkanTest::SetUp() {
    context().clear_validation_messages();
    staging_context().clear_validation_messages();
}

void VulkanTest::TearDown() {
    fail_on_messages(context());
    fail_on_messages(staging_context());
}

CommandResult run_command(const std::string& command) {
    static int counter = 0;
    // The pid keeps test processes that ctest runs in parallel from sharing output files.
    const std::string base = ::testing::TempDir() + "/cmd" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    const int raw = std::system((command + " >" + base + ".out 2>" + base + ".err").c_str());
    auto slurp = [](const std::string& path) {
        std::ifstream f(path);
        std::stringstream s;
        s << f.rdbuf();
        return s.str();
    };
    return CommandResult{WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, slurp(base + ".out"), slurp(base + ".err")};
}

std::filesystem::path fresh_test_dir(const std::string& prefix) {
    const auto dir = std::filesystem::path(::testing::TempDir()) /
                     (prefix + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    return dir;
}

float max_abs(std::span<const float> v) {
    float m = 0;
    for (float x : v) m = std::max(m, std::fabs(x));
    return m;
}

std::vector<float> random_values(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<float> v(n);
    // From raw bits, not std::uniform_real_distribution, whose output is implementation-defined.
    for (auto& x : v) x = static_cast<float>(static_cast<double>(rng() >> 11) * 0x1.0p-53 * 2.0 - 1.0);
    return v;
}

::testing::AssertionResult all_close(std::span<const float> got, std::span<const float> want, std::span<const float> tol) {
    if (got.size() != want.size())
        return ::testing::AssertionFailure() << "size " << got.size() << " != expected " << want.size();
    std::ostringstream msg;
    size_t bad = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const float d = std::fabs(got[i] - want[i]);
        const bool ok = d <= tol[i] || (std::isnan(got[i]) && std::isnan(want[i])) || (got[i] == want[i]);
        if (!ok) {
            if (bad < 8) msg << "\n  [" << i << "] got " << got[i] << ", want " << want[i] << " (|diff| " << d << " > tol " << tol[i] << ")";
            ++bad;
        }
    }
    if (bad) return ::testing::AssertionFailure() << bad << " of " << got.size() << " elements differ:" << msg.str();
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult all_close(std::span<const float> got, std::span<const float> want, float tol) {
    std::vector<float> t(got.size(), tol);
    return all_close(got, want, t);
}

std::vector<float> fp32_sum_tolerance(std::span<const float> abs_sums, int64_t terms) {
    std::vector<float> t(abs_sums.size());
    const double eps = std::ldexp(1.0, -24);
    for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(2.0 * double(terms + 1) * eps * abs_sums[i] + 1e-6);
    return t;
}

::testing::AssertionResult each_element(std::span<const float> got, std::span<const float> want,
                                        const std::function<bool(size_t, float, float)>& ok,
                                        const std::function<std::string(size_t)>& detail) {
    if (got.size() != want.size()) return ::testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
    std::ostringstream msg;
    size_t bad = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        if (ok(i, got[i], want[i])) continue;
        if (bad++ < 8) msg << "\n  [" << i << "] got " << got[i] << ", want " << want[i] << (detail ? detail(i) : std::string());
    }
    if (bad) return ::testing::AssertionFailure() << bad << " of " << got.size() << " elements differ:" << msg.str();
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult bit_equal(std::span<const float> got, std::span<const float> want) {
    auto bits = [](float f) {
        uint32_t u;
        std::memcpy(&u, &f, 4);
        return u;
    };
    return each_element(
        got, want, [&](size_t, float g, float w) { return bits(g) == bits(w) || (std::isnan(g) && std::isnan(w)); },
        [&](size_t i) {
            std::ostringstream s;
            s << " (0x" << std::hex << bits(got[i]) << " vs 0x" << bits(want[i]) << ")";
            return s.str();
        });
}

}  // namespace vkconv::test
