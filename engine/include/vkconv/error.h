// vkconv/error.h: the one exception type vkconv throws.
//
// Messages follow PyTorch's style: they name the parameter and the rule it broke,
// e.g. "Conv2d: in_channels must be divisible by groups, but got in_channels=3, groups=2".
#pragma once

#include <stdexcept>
#include <string>

namespace vkconv {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace vkconv
