// Shared pieces of the Conv2d sweep tests (test_conv2d*.cpp): tile knobs set per test case and the
// options of a sweep row.
#pragma once

#include <cstdlib>
#include <stdexcept>
#include <sstream>
#include <string>
#include <vector>

#include "vkconv/conv2d.h"

namespace vkconv::test {

// Sets a context's tile overrides ("NAME=value,NAME2=value2", the names the tools read from the
// environment: VKCONV_PACKED_PX, ...) for one test and restores them after. Convolutions made
// while it lives prepare their plans with these tiles.
class ScopedKnobs {
public:
    ScopedKnobs(Context& ctx, const std::string& knobs) : ctx_(ctx), saved_(ctx.policy().tiles) {
        host::TileOverrides t = saved_;
        std::stringstream ss(knobs);
        std::string kv;
        while (std::getline(ss, kv, ',')) {
            const auto eq = kv.find('=');
            if (eq == std::string::npos || !host::set_tile_override(t, kv.substr(0, eq), std::atoi(kv.substr(eq + 1).c_str())))
                throw std::invalid_argument("not a tile override: '" + kv + "'");
        }
        ctx_.set_tile_overrides(t);
    }
    ~ScopedKnobs() { ctx_.set_tile_overrides(saved_); }
    ScopedKnobs(const ScopedKnobs&) = delete;
    ScopedKnobs& operator=(const ScopedKnobs&) = delete;

private:
    Context& ctx_;
    host::TileOverrides saved_;
};

// Conv2dOptions from every field, for the sweep tables.
inline Conv2dOptions conv2d_options(Pair stride, Padding padding, Pair dilation, int groups, bool bias, PaddingMode mode) {
    Conv2dOptions o;
    o.stride = stride;
    o.padding = padding;
    o.dilation = dilation;
    o.groups = groups;
    o.bias = bias;
    o.padding_mode = mode;
    return o;
}

}  // namespace vkconv::test
