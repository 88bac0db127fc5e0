// Shared pieces of the Conv2d sweep tests (test_conv2d*.cpp): tile knobs set per test case and the
// options of a sweep row.
#pragma once

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "vkconv/conv2d.h"

namespace vkconv::test {

// Sets environment variables ("NAME=value,NAME2=value2": the algorithms' tile knobs) for one test
// and unsets them after.
class ScopedKnobs {
public:
    explicit ScopedKnobs(const std::string& knobs) {
        std::stringstream ss(knobs);
        std::string kv;
        while (std::getline(ss, kv, ',')) {
            const auto eq = kv.find('=');
            const std::string k = kv.substr(0, eq);
            names_.push_back(k);
            setenv(k.c_str(), eq == std::string::npos ? "" : kv.substr(eq + 1).c_str(), 1);
        }
    }
    ~ScopedKnobs() {
        for (const auto& k : names_) unsetenv(k.c_str());
    }
    ScopedKnobs(const ScopedKnobs&) = delete;
    ScopedKnobs& operator=(const ScopedKnobs&) = delete;

private:
    std::vector<std::string> names_;
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
