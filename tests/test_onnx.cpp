// test_onnx.cpp: load_onnx on committed fixtures (tools/fixtures/gen_onnx_fixtures.py): the
// PyTorch route (torch.onnx.export at opsets 13 and 17 of a width-reduced ResNet-18, matching
// PyTorch within 1e-4 of the output's scale), external data, a weight given as a graph input,
// the refusals of bad files (each one line naming what is wrong), and `vkconv run` on ONNX
// models. ONNX's own backend tests are in test_onnx_conformance.cpp.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "support/test_support.h"
#include "vkconv/conv2d.h"
#include "vkconv/onnx.h"
#include <onnx/onnx_pb.h>

namespace vkconv::test {
namespace {

namespace fs = std::filesystem;
const fs::path kDir = fs::path(VKCONV_TEST_DATA_DIR) / "onnx";
std::string data(const std::string& f) { return (kDir / f).string(); }

// |got - want| <= 1e-4 max|want|: the criterion for models exported from PyTorch (fp32 sums in
// another order than PyTorch's, through ~10 layers).
void expect_matches(const HostArray& got, const HostArray& want, const std::string& what) {
    ASSERT_EQ(got.shape, want.shape) << what;
    EXPECT_TRUE(all_close(got.data, want.data, 1e-4f * test::max_abs(want.data))) << what;
}

class Onnx : public VulkanTest {};

class OnnxTinyResNet : public VulkanTest, public ::testing::WithParamInterface<int> {};

TEST_P(OnnxTinyResNet, MatchesPyTorchAndFoldsShapeSubgraph) {
    const int opset = GetParam();
    SCOPED_TRACE("opset " + std::to_string(opset));
    const HostArray x = load_npy(data("tiny_resnet_input.npy"));
    const HostArray want = load_npy(data("tiny_resnet_output.npy"));
    const std::string file = data("tiny_resnet_opset" + std::to_string(opset) + ".onnx");
    // The batch dimension is symbolic ("N"): the input fixes it.
    expect_error([&] { load_onnx(context(), file); }, {"input 'x' has dynamic dimensions ('N' in [-1, 3, 64, 64])"});
    OnnxLoadOptions o;
    o.inputs["x"] = x;
    OnnxModel m = load_onnx(context(), file, o);
    EXPECT_EQ(m.opset, opset);
    EXPECT_EQ(m.input_name, "x");
    EXPECT_EQ(m.input_shape, (Shape{2, 3, 64, 64}));
    ASSERT_EQ(m.output_names, std::vector<std::string>{"logits"});
    // x.view(x.size(0), -1): Shape/Gather/Unsqueeze/Concat fold on the host, the Reshape is a view.
    std::map<std::string, int> types;
    for (const auto& name : m.model->layer_names()) ++types[m.model->layer(name).type()];
    EXPECT_EQ(types["Conv2d"], 12);
    EXPECT_EQ(types["BatchNorm2d"], 12);
    EXPECT_EQ(types["Add"], 4);
    EXPECT_EQ(types["Reshape"], 1);
    EXPECT_EQ(types["Linear"], 1);
    EXPECT_EQ(types["Constant"], 0);
    EXPECT_EQ(types.size(), 9u) << m.model->summary();  // + ReLU, MaxPool2d, AdaptiveAvgPool2d
    const auto out = m.run(x);
    expect_matches(out.at("logits"), want, "logits");
    // Conv+BN folding and ReLU fusion are the Model's: one submission, and the same result
    // without them.
    EXPECT_EQ(m.model->last_forward_stats().submissions, 1u);
    m.model->set_fusion(false);
    expect_matches(m.run(x).at("logits"), want, "logits without fusion");
}

INSTANTIATE_TEST_SUITE_P(Opsets, OnnxTinyResNet, ::testing::Values(13, 17),
                         [](const auto& info) { return "opset" + std::to_string(info.param); });

// The operators and patterns of tools/fixtures/gen_onnx_fixtures.py's OnnxOps: reflect Pad folded
// into the Conv after it, Resize (bilinear by sizes, nearest by scales) as Upsample with ONNX's
// rules, the decomposed GELU as one GELU, LayerNorm (opset 13: the decomposed pattern; 17:
// LayerNormalization) as one LayerNorm, Pow and Sqrt, LogSoftmax.
TEST_P(OnnxTinyResNet, OnnxOpsMatchPyTorch) {
    const int opset = GetParam();
    SCOPED_TRACE("opset " + std::to_string(opset));
    const HostArray x = load_npy(data("onnx_ops_input.npy"));
    OnnxLoadOptions o;
    o.inputs["x"] = x;
    OnnxModel m = load_onnx(context(), data("onnx_ops_opset" + std::to_string(opset) + ".onnx"), o);
    std::map<std::string, int> types;
    for (const auto& name : m.model->layer_names()) ++types[m.model->layer(name).type()];
    EXPECT_EQ(types["GELU"], 1) << m.model->summary();
    EXPECT_EQ(types["LayerNorm"], 1) << m.model->summary();
    EXPECT_EQ(types["Erf"], 0);
    EXPECT_EQ(types["Resize"], 2);
    EXPECT_EQ(types["LogSoftmax"], 1);
    EXPECT_EQ(types["Sqrt"], 1);
    EXPECT_EQ(types["Pow"], 1);
    bool reflect = false;
    for (const auto& name : m.model->layer_names())
        if (auto* c = dynamic_cast<const Conv2d*>(&m.model->layer(name))) reflect = reflect || c->params().options.padding_mode == PaddingMode::Reflect;
    EXPECT_TRUE(reflect) << m.model->summary();
    expect_matches(m.run(x).at("y"), load_npy(data("onnx_ops_output.npy")), "y");
    m.model->set_fusion(false);
    expect_matches(m.run(x).at("y"), load_npy(data("onnx_ops_output.npy")), "y without fusion");
}

// torchvision's MobileNetV2 (width 0.25): Clip(0, 6) becomes ReLU6, residual Adds, global
// average pooling, Flatten, Gemm.
TEST_F(Onnx, MobileNetV2MatchesPyTorch) {
    OnnxModel m = load_onnx(context(), data("mobilenet_v2_opset13.onnx"));
    std::map<std::string, int> types;
    for (const auto& name : m.model->layer_names()) ++types[m.model->layer(name).type()];
    EXPECT_GT(types["ReLU6"], 0) << m.model->summary();
    EXPECT_EQ(types["Constant"], 0) << m.model->summary();
    expect_matches(m.run(load_npy(data("mobilenet_v2_input.npy"))).at("logits"), load_npy(data("mobilenet_v2_output.npy")), "logits");
}

TEST_F(Onnx, ExternalDataInsideTheFolder) {
    OnnxModel m = load_onnx(context(), data("external/conv.onnx"));
    expect_matches(m.run(load_npy(data("external/input.npy"))).at("y"), load_npy(data("external/output.npy")), "y");
}

TEST_F(Onnx, WeightGivenAsGraphInput) {
    OnnxLoadOptions o;
    o.inputs["w"] = load_npy(data("conv_weight_input_w.npy"));
    OnnxModel m = load_onnx(context(), data("conv_weight_input.onnx"), o);
    EXPECT_EQ(m.bound_inputs, std::vector<std::string>{"w"});
    expect_matches(m.run(load_npy(data("conv_weight_input_x.npy"))).at("y"), load_npy(data("conv_weight_input_y.npy")), "y");
    expect_error([&] { load_onnx(context(), data("conv_weight_input.onnx")); },
                 {"node 'conv' (Conv) reads graph input 'w', which has no value", "--input w=file.npy"});
    o.inputs["nope"] = o.inputs["w"];
    expect_error([&] { load_onnx(context(), data("conv_weight_input.onnx"), o); }, {"no graph input named 'nope'", "inputs: x, w"});
}

TEST_F(Onnx, SupportedOperatorsAndGraphInfo) {
    const auto ops = onnx_supported_operators();
    EXPECT_TRUE(std::is_sorted(ops.begin(), ops.end()));
    for (const char* op : {"Conv", "BatchNormalization", "Relu", "Gemm", "Shape", "Gather", "Unsqueeze", "Concat", "Reshape"})
        EXPECT_NE(std::find(ops.begin(), ops.end(), op), ops.end()) << op;
    const OnnxGraphInfo info = onnx_graph_info(data("conv_weight_input.onnx"));
    EXPECT_EQ(info.inputs, (std::vector<std::string>{"x", "w"}));
    EXPECT_EQ(info.outputs, std::vector<std::string>{"y"});
    EXPECT_EQ(info.operators, std::vector<std::string>{"Conv"});
    EXPECT_EQ(info.opset, 13);
}

// ---- reductions over any axes ----
// ReduceMean/ReduceMax/ReduceMin/ReduceSum of a rank-1..5 input over the given axes (empty: all;
// negative wrap), keepdims 0/1, built in memory and compared with a CPU reduction in double.
// Tolerance: at most K = 240 values of |x| <= 1 are summed in fp32 in another order than the
// reference, an error under K 2^-24 sum|x| <= 240^2 2^-24 ~ 3.4e-3 for the sum (4e-3), and that
// divided by K for the mean (2e-5); the maximum and minimum are exact.
struct ReduceCase {
    const char* op;
    Shape shape;
    std::vector<int64_t> axes;  // as written in the model
    bool keepdims;
};

std::string reduce_case_str(const ReduceCase& c) {
    return std::string(c.op) + " input " + shape_str(c.shape) + " axes " + shape_str(c.axes) + " keepdims " + std::to_string(c.keepdims);
}

std::vector<uint8_t> reduce_model(const ReduceCase& c) {
    onnx::ModelProto m;
    m.set_ir_version(7);
    m.add_opset_import()->set_version(13);
    auto* g = m.mutable_graph();
    g->set_name("reduce");
    auto* in = g->add_input();
    in->set_name("x");
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : c.shape) tt->mutable_shape()->add_dim()->set_dim_value(d);
    g->add_output()->set_name("y");
    g->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    auto* n = g->add_node();
    n->set_op_type(c.op);
    n->set_name("reduce");
    n->add_input("x");
    n->add_output("y");
    const bool sum = std::string(c.op) == "ReduceSum";  // opset 13: axes is an input
    if (sum && !c.axes.empty()) {
        auto* t = g->add_initializer();
        t->set_name("axes");
        t->set_data_type(onnx::TensorProto::INT64);
        t->add_dims(static_cast<int64_t>(c.axes.size()));
        for (int64_t v : c.axes) t->add_int64_data(v);
        n->add_input("axes");
    } else if (!c.axes.empty()) {
        auto* a = n->add_attribute();
        a->set_name("axes");
        a->set_type(onnx::AttributeProto::INTS);
        for (int64_t v : c.axes) a->add_ints(v);
    }
    auto* k = n->add_attribute();
    k->set_name("keepdims");
    k->set_type(onnx::AttributeProto::INT);
    k->set_i(c.keepdims ? 1 : 0);
    const std::string bytes = m.SerializeAsString();
    return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

HostArray reduce_reference(const ReduceCase& c, const std::vector<float>& x) {
    const auto r = static_cast<int64_t>(c.shape.size());
    std::vector<bool> red(static_cast<size_t>(r), c.axes.empty());
    for (int64_t a : c.axes) red[static_cast<size_t>(a < 0 ? a + r : a)] = true;
    Shape out;
    for (int64_t d = 0; d < r; ++d)
        if (!red[static_cast<size_t>(d)]) out.push_back(c.shape[static_cast<size_t>(d)]);
        else if (c.keepdims) out.push_back(1);
    // Output index of each input element: its coordinates with the reduced ones dropped.
    std::vector<int64_t> outer_stride(static_cast<size_t>(r), 0);
    int64_t s = 1;
    for (int64_t d = r - 1; d >= 0; --d)
        if (!red[static_cast<size_t>(d)]) {
            outer_stride[static_cast<size_t>(d)] = s;
            s *= c.shape[static_cast<size_t>(d)];
        }
    const std::string op = c.op;
    const bool max = op == "ReduceMax", min = op == "ReduceMin";
    std::vector<double> acc(static_cast<size_t>(s), max ? -INFINITY : min ? INFINITY : 0.0);
    std::vector<int64_t> idx(static_cast<size_t>(r), 0);
    int64_t count = static_cast<int64_t>(x.size()) / s;
    for (size_t i = 0; i < x.size(); ++i) {
        int64_t o = 0;
        for (int64_t d = 0; d < r; ++d) o += idx[static_cast<size_t>(d)] * outer_stride[static_cast<size_t>(d)];
        double& a = acc[static_cast<size_t>(o)];
        a = max ? std::max(a, double(x[i])) : min ? std::min(a, double(x[i])) : a + double(x[i]);
        for (int64_t d = r - 1; d >= 0; --d) {
            if (++idx[static_cast<size_t>(d)] < c.shape[static_cast<size_t>(d)]) break;
            idx[static_cast<size_t>(d)] = 0;
        }
    }
    HostArray y{out, {}};
    for (double a : acc) y.data.push_back(static_cast<float>(op == "ReduceMean" ? a / double(count) : a));
    return y;
}

class OnnxReduce : public VulkanTest, public ::testing::WithParamInterface<ReduceCase> {};

TEST_P(OnnxReduce, MatchesCpu) {
    const ReduceCase& c = GetParam();
    SCOPED_TRACE(reduce_case_str(c));
    const auto bytes = reduce_model(c);
    OnnxModel m = load_onnx_bytes(context(), bytes, "", "reduce.onnx");
    const HostArray x{c.shape, random_values(static_cast<size_t>(shape_numel(c.shape)), 7)};
    const HostArray want = reduce_reference(c, x.data);
    const HostArray got = m.run(x).at("y");
    ASSERT_EQ(got.shape, want.shape);
    const std::string op = c.op;
    EXPECT_TRUE(all_close(got.data, want.data, op == "ReduceSum" ? 4e-3f : op == "ReduceMean" ? 2e-5f : 0.0f));
}

std::vector<ReduceCase> reduce_cases() {
    std::vector<ReduceCase> v;
    const std::vector<std::pair<Shape, std::vector<std::vector<int64_t>>>> table = {
        {{7}, {{0}, {-1}, {}}},
        {{3, 5}, {{0}, {1}, {-2}, {0, 1}, {}}},
        {{2, 3, 4}, {{0}, {1}, {2}, {0, 2}, {-1, -2}, {}}},
        {{2, 3, 4, 5}, {{0}, {1}, {3}, {1, 3}, {2, 3}, {-1}, {0, 2, 3}, {}}},
        {{2, 3, 2, 4, 5}, {{0}, {2}, {4}, {1, 3}, {-1, -3}, {2, 3, 4}, {}}},
    };
    for (const char* op : {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum"})
        for (const auto& [shape, axes_list] : table)
            for (const auto& axes : axes_list)
                for (bool keep : {true, false}) v.push_back({op, shape, axes, keep});
    return v;
}

INSTANTIATE_TEST_SUITE_P(Axes, OnnxReduce, ::testing::ValuesIn(reduce_cases()), [](const auto& info) {
    std::string s = reduce_case_str(info.param);
    for (char& ch : s)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return s + "_" + std::to_string(info.index);
});

TEST_F(Onnx, ReduceRepeatedAxisIsAnError) {
    const auto bytes = reduce_model({"ReduceMean", {2, 3}, {1, -1}, true});
    expect_error([&] { load_onnx_bytes(context(), bytes, "", "reduce.onnx"); }, {"node 'reduce' (ReduceMean): axes [1, 1] repeat an axis"});
}

// Slice and Split of 1-D tensors (the model's input, and a computed one), every piece a graph
// output, against their definition: bit-identical (values are only moved; ReLU is exact).
TEST_F(Onnx, SliceAndSplitOf1DTensors) {
    onnx::ModelProto m;
    m.set_ir_version(7);
    m.add_opset_import()->set_version(13);
    auto* g = m.mutable_graph();
    g->set_name("slices_1d");
    auto* in = g->add_input();
    in->set_name("x");
    in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(12);
    auto ints = [&](const std::string& name, std::vector<int64_t> v) {
        auto* t = g->add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::INT64);
        t->add_dims(static_cast<int64_t>(v.size()));
        for (int64_t e : v) t->add_int64_data(e);
    };
    auto node = [&](const std::string& op, const std::string& name, std::vector<std::string> ins, std::vector<std::string> outs) {
        auto* n = g->add_node();
        n->set_op_type(op);
        n->set_name(name);
        for (const auto& i : ins) n->add_input(i);
        for (const auto& o : outs) n->add_output(o);
    };
    ints("s_starts", {3});
    ints("s_ends", {-2});
    ints("split", {5, 7});
    ints("t_starts", {1});
    ints("t_ends", {100});
    node("Slice", "slice_x", {"x", "s_starts", "s_ends"}, {"a"});       // x[3:10]
    node("Relu", "relu", {"x"}, {"r"});
    node("Split", "split_r", {"r", "split"}, {"b", "c"});              // r[0:5], r[5:12]
    node("Slice", "slice_c", {"c", "t_starts", "t_ends"}, {"d"});      // r[6:12]
    for (const char* o : {"a", "b", "d"}) {
        g->add_output()->set_name(o);
        g->mutable_output(g->output_size() - 1)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    }
    const std::string bytes = m.SerializeAsString();
    OnnxModel model = load_onnx_bytes(context(), std::vector<uint8_t>(bytes.begin(), bytes.end()), "", "slices_1d.onnx");
    auto x = random_values(12, 3);
    x[4] = std::nanf("");
    std::vector<float> r = x;
    for (auto& v : r) v = std::isnan(v) ? v : std::max(v, 0.0f);
    const auto out = model.run(HostArray{{12}, x});
    EXPECT_EQ(out.at("a").shape, (Shape{7}));
    EXPECT_TRUE(bit_equal(out.at("a").data, std::vector<float>(x.begin() + 3, x.begin() + 10)));
    EXPECT_EQ(out.at("b").shape, (Shape{5}));
    EXPECT_TRUE(bit_equal(out.at("b").data, std::vector<float>(r.begin(), r.begin() + 5)));
    EXPECT_EQ(out.at("d").shape, (Shape{6}));
    EXPECT_TRUE(bit_equal(out.at("d").data, std::vector<float>(r.begin() + 6, r.end())));
}

// ---- bad files: one clear line each ----

struct BadFile {
    const char* file;
    std::vector<const char*> parts;
    bool unsupported;  // OnnxUnsupported (a valid model vkconv cannot run) rather than a bad file
};

class OnnxBadFile : public VulkanTest, public ::testing::WithParamInterface<BadFile> {};

TEST_P(OnnxBadFile, RefusedWithOneLine) {
    const BadFile& b = GetParam();
    SCOPED_TRACE(b.file);
    try {
        load_onnx(context(), data(b.file));
        ADD_FAILURE() << "loaded";
    } catch (const OnnxUnsupported& e) {
        EXPECT_TRUE(b.unsupported) << e.what();
        for (const char* p : b.parts) EXPECT_THAT(e.what(), ::testing::HasSubstr(p));
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    } catch (const Error& e) {
        EXPECT_FALSE(b.unsupported) << e.what();
        for (const char* p : b.parts) EXPECT_THAT(e.what(), ::testing::HasSubstr(p));
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Files, OnnxBadFile,
    ::testing::Values(
        BadFile{"bad_unknown_op.onnx", {"node 'mystery_celu' (Celu)", "unsupported operator 'Celu'", "supported: Add, AveragePool"}, true},
        BadFile{"bad_opset5.onnx", {"opset 5 is outside the supported range 6-17"}, true},
        BadFile{"bad_opset18.onnx", {"opset 18 is outside the supported range 6-17"}, true},
        BadFile{"bad_dynamic.onnx", {"input 'x' has dynamic dimensions ('N' in [-1, 2, 5, 5]) that cannot be resolved"}, false},
        BadFile{"bad_tensor_size.onnx", {"tensor 'w' declares dims [3, 2, 3, 3]", "216 bytes) but holds 212 bytes"}, false},
        BadFile{"bad_external_escape.onnx", {"tensor 'w'", "external data location '../external/conv.data' leaves the model's folder"}, false},
        BadFile{"bad_external_absolute.onnx", {"external data location '/etc/passwd' is absolute"}, false},
        BadFile{"bad_pad_alone.onnx", {"node 'lonely_pad' (Pad): a Pad that is not read by Conv nodes only", "vkconv pads inside a convolution"}, true},
        BadFile{"bad_conv1d.onnx", {"node 'conv1d' (Conv): 1-D convolution (input [1, 2, 5])", "2-D images (4-D NCHW input) only"}, true}),
    [](const auto& info) {
        std::string s = info.param.file;
        return s.substr(0, s.find('.'));
    });

TEST_F(Onnx, TruncatedAndCorruptProtobuf) {
    const auto bytes = read_file_bytes(data("tiny_resnet_opset13.onnx"));
    for (size_t keep : {bytes.size() / 2, bytes.size() - 7, size_t(3)}) {
        SCOPED_TRACE("truncated to " + std::to_string(keep) + " bytes");
        expect_error([&] { load_onnx_bytes(context(), std::span(bytes.data(), keep), "", "m.onnx"); },
                     {"m.onnx: not a valid ONNX model"});
    }
    std::vector<uint8_t> corrupt = bytes;
    for (size_t i = 16; i < 64; ++i) corrupt[i] = 0xff;
    expect_error([&] { load_onnx_bytes(context(), corrupt, "", "m.onnx"); }, {"m.onnx: not a valid ONNX model"});
    const std::string text = "{\"layers\": []}";
    expect_error([&] { load_onnx_bytes(context(), std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()), "", "j.onnx"); },
                 {"j.onnx: not a valid ONNX model"});
    // External data needs the model's folder.
    const auto ext = read_file_bytes(data("external/conv.onnx"));
    expect_error([&] { load_onnx_bytes(context(), ext, "", "conv.onnx"); }, {"external data 'conv.data' but the model was not read from a file"});
}

TEST_F(Onnx, InputShapeMustFit) {
    OnnxLoadOptions o;
    o.inputs[""] = HostArray{{1, 3, 32, 32}, std::vector<float>(3 * 32 * 32)};
    expect_error([&] { load_onnx(context(), data("tiny_resnet_opset13.onnx"), o); },
                 {"input 'x' has shape [1, 3, 32, 32]; the model declares [-1, 3, 64, 64]"});
    o.inputs[""] = HostArray{{1, 3, 64, 64}, std::vector<float>(3 * 64 * 64)};
    OnnxModel m = load_onnx(context(), data("tiny_resnet_opset13.onnx"), o);
    EXPECT_EQ(m.input_shape, (Shape{1, 3, 64, 64}));
    expect_error([&] { m.run(HostArray{{1, 3}, {0.f, 0.f, 0.f}}); }, {"input 'x' has shape [1, 3]; the model was loaded for [1, 3, 64, 64]"});
}

// ---- vkconv run ----

std::string tool() { return VKCONV_TOOL_PATH; }
std::string tmp(const std::string& name) { return (fs::temp_directory_path() / ("vkconv_onnx_" + name)).string(); }

TEST(OnnxCli, RunWritesNamedOutputs) {
    const std::string y = tmp("logits.npy");
    fs::remove(y);
    auto r = run_command(tool() + " run --model " + data("tiny_resnet_opset17.onnx") + " --input " + data("tiny_resnet_input.npy") +
                         " --output logits=" + y);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.err, ::testing::HasSubstr("input 'x' [2, 3, 64, 64] -> output 'logits' [2, 10] written to"));
    expect_matches(load_npy(y), load_npy(data("tiny_resnet_output.npy")), "cli logits");

    const std::string y2 = tmp("y.npy");
    r = run_command(tool() + " run --model " + data("conv_weight_input.onnx") + " --input x=" + data("conv_weight_input_x.npy") +
                    " --input w=" + data("conv_weight_input_w.npy") + " --output " + y2);
    ASSERT_EQ(r.status, 0) << r.err;
    expect_matches(load_npy(y2), load_npy(data("conv_weight_input_y.npy")), "cli y");
}

TEST(OnnxCli, Errors) {
    const std::string m = data("tiny_resnet_opset13.onnx"), x = data("tiny_resnet_input.npy");
    auto r = run_command(tool() + " run --model " + m + " --input " + x + " --weights w.safetensors");
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.err, ::testing::HasSubstr("is an ONNX model, whose initializers are its weights"));
    r = run_command(tool() + " run --model " + m + " --input " + x + " --output nope=" + tmp("n.npy"));
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.err, ::testing::HasSubstr("the model has no output 'nope' (outputs: 'logits')"));
    r = run_command(tool() + " run --model " + data("bad_unknown_op.onnx") + " --input " + data("conv_weight_input_x.npy"));
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.err, ::testing::HasSubstr("unsupported operator 'Celu'"));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace vkconv::test
