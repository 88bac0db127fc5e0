// Erf, Sqrt, Pow (vkconv/unary_math.h): activations; only Pow's repr is not inline.
#include "vkconv/layers.h"
#include "vkconv/unary_math.h"

namespace vkconv {

std::string Pow::repr() const { return "Pow(exponent=" + python_float_repr(exponent()) + ")"; }

}  // namespace vkconv
