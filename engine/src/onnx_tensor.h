// onnx_tensor.h: ONNX TensorProtos as host values (private to engine/src).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "vkconv/tensor.h"

namespace vkconv::detail {

// A constant: float values (FLOAT, DOUBLE, FLOAT16, BFLOAT16 converted to float) or integers
// (every integer type and BOOL, as int64).
struct OnnxConst {
    bool is_int = false;
    Shape shape;
    std::vector<float> f;
    std::vector<int64_t> i;

    int64_t numel() const { return is_int ? static_cast<int64_t>(i.size()) : static_cast<int64_t>(f.size()); }
    double at(size_t k) const { return is_int ? static_cast<double>(i[k]) : static_cast<double>(f[k]); }
    std::vector<double> values() const;
    static OnnxConst from_values(bool is_int, Shape shape, const std::vector<double>& v);
};

// "FLOAT", "INT64", ... (or the number for values outside the enum).
std::string onnx_type_name(int32_t data_type);
bool onnx_type_is_int(int32_t data_type);
bool onnx_type_is_float(int32_t data_type);

// Decodes `t`, checking that its data holds exactly as many values as its dims declare.
// External data is read from `base_dir` (which the file's location must stay inside; "" refuses
// external data). `what` names the tensor in errors.
OnnxConst decode_onnx_tensor(const onnx::TensorProto& t, const std::string& base_dir, const std::string& what);

}  // namespace vkconv::detail
