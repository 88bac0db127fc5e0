// Soak: `vkconv soak` (tools/soak.cpp), SimpleCNN forward passes alternating batch 1 and 64, must
// finish with the context's device memory unchanged after warm-up and VmRSS within its tolerance
// (the full run is 10000 iterations of batch 1 and 64, by hand; here 300 iterations of batch 1 and
// 16, to keep the suite's time down under the validation layer). Also checks that the soak's own checks
// can fail: with a negative RSS tolerance any report after warm-up must fail it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/test_support.h"

namespace vkconv {
namespace {

using ::testing::HasSubstr;

const std::string kTool = VKCONV_TOOL_PATH;

TEST(Soak, ShortRunIsStable) {
    const auto r = test::run_command(kTool + " soak --iterations 300 --warmup 50 --report-every 50 --large-batch 16");
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("vkconv soak: 300 SimpleCNN forward passes alternating batch 1 and 16"));
    EXPECT_THAT(r.out, HasSubstr("warm-up done"));
    EXPECT_THAT(r.out, HasSubstr("vkconv soak: OK")) << r.out << r.err;
    EXPECT_EQ(r.err, "");
}

TEST(Soak, GrowthBeyondToleranceFails) {
    const auto r = test::run_command(kTool + " soak --iterations 6 --warmup 2 --report-every 2 --large-batch 2 --rss-tolerance-mib -1");
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr("VmRSS grew by"));
    EXPECT_THAT(r.err, HasSubstr("vkconv soak: FAILED"));
}

}  // namespace
}  // namespace vkconv
