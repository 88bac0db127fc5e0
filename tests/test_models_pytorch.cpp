// Whole models against PyTorch: fixtures in tests/data/models made by
// tools/fixtures/gen_model_fixtures.py (PyTorch 1.13), each a JSON description and a
// .safetensors state_dict written by tools/export_model.py, with inputs and the module's outputs.
//
// For every model: load_model_json + load_weights, Model::forward on the device for every input
// and Model::reference_forward on the CPU, both within 1e-4 of the output's scale (max |y|) of
// PyTorch's output; the same with fusion off; the printed summary against print(module) where
// the export keeps the module's structure. Then load_weights' refusals (keys, shapes, dtypes,
// truncated files) on files generated here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/simple_cnn.h"
#include "support/test_support.h"
#include "vkconv/error.h"
#include "vkconv/layers.h"
#include "vkconv/model.h"
#include "vkconv/model_json.h"
#include "vkconv/npy.h"
#include "vkconv/safetensors.h"

namespace vkconv {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ::testing::HasSubstr;

const std::string kDir = std::string(VKCONV_TEST_DATA_DIR) + "/models/";

json load_manifest() {
    std::ifstream f(kDir + "manifest.json");
    if (!f) return json::object();
    return json::parse(f);
}

std::vector<json> models_with_weights() {
    std::vector<json> out;
    const json m = load_manifest();
    if (!m.contains("models")) return out;
    for (const auto& e : m.at("models"))
        if (!e.at("weights").is_null()) out.push_back(e);
    return out;
}

json manifest_entry(const std::string& dir) {
    const json m = load_manifest();
    for (const auto& e : m.value("models", json::array()))
        if (e.at("dir") == dir) return e;
    ADD_FAILURE() << "no model '" << dir << "' in " << kDir << "manifest.json";
    return json::object();
}

std::string read_text(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string strip_trailing_newlines(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

std::vector<std::string> lines_containing(const std::string& text, std::initializer_list<const char*> needles) {
    std::vector<std::string> out;
    std::stringstream s(text);
    std::string line;
    while (std::getline(s, line))
        for (const char* n : needles)
            if (line.find(n) != std::string::npos) {
                out.push_back(line);
                break;
            }
    return out;
}

float scale_of(const std::vector<float>& v) {
    float s = 0;
    for (float x : v) s = std::max(s, std::fabs(x));
    return s;
}

struct Case {
    HostArray input, output;
    std::string label;
};

std::vector<Case> load_cases(const json& entry) {
    std::vector<Case> out;
    const std::string dir = kDir + entry.at("dir").get<std::string>() + "/";
    for (const auto& c : entry.at("cases"))
        out.push_back({load_npy(dir + c.at("input").get<std::string>()), load_npy(dir + c.at("output").get<std::string>()),
                       c.at("input").get<std::string>()});
    return out;
}

ModelDescription load_fixture_model(const json& entry) {
    const std::string dir = kDir + entry.at("dir").get<std::string>() + "/";
    ModelDescription d = load_model_json(test::context(), dir + "model.json");
    d.model->load_weights(dir + entry.at("weights").get<std::string>());
    return d;
}

// Device forward and CPU reference of `m` against PyTorch's output for every case; returns the
// device outputs.
std::vector<std::vector<float>> check_against_torch(Model& m, const std::vector<Case>& cases, const std::string& what) {
    std::vector<std::vector<float>> outs;
    for (const auto& c : cases) {
        SCOPED_TRACE(what + ", " + c.label + " " + shape_str(c.input.shape));
        const float tol = 1e-4f * scale_of(c.output.data);
        EXPECT_GT(scale_of(c.output.data), 0.0f);
        EXPECT_EQ(m.output_shape(c.input.shape), c.output.shape);
        const Tensor y = m.forward(Tensor::from_host(test::context(), c.input.shape, c.input.data));
        EXPECT_EQ(y.shape(), c.output.shape);
        outs.push_back(y.to_host());
        EXPECT_TRUE(test::all_close(outs.back(), c.output.data, tol)) << "device forward vs PyTorch";
        const auto ref = m.reference_forward(c.input.shape, c.input.data);
        EXPECT_TRUE(test::all_close(ref, c.output.data, tol)) << "reference_forward vs PyTorch";
    }
    return outs;
}

// The (layer, the step it merges into) pairs that fusion merges in the model's description, by
// the rules documented in model.h and layer.h: a BatchNorm2d folds into a Conv2d, a ReLU fuses
// into a Conv2d, Linear or Add (also a folded Conv2d+BatchNorm2d), when it is the only reader of
// its producer's value, that value is not a view, and no ReLU was fused there already.
std::vector<std::string> fusable_pairs(const json& entry) {
    std::ifstream f(kDir + entry.at("dir").get<std::string>() + "/model.json");
    const json layers = json::parse(f).at("layers");
    std::map<std::string, int> readers;
    std::vector<std::vector<std::string>> inputs;
    std::string prev = "input";
    for (const auto& l : layers) {
        std::vector<std::string> in = l.contains("inputs") ? l.at("inputs").get<std::vector<std::string>>() : std::vector<std::string>{prev};
        for (const auto& i : in) ++readers[i];
        inputs.push_back(in);
        prev = l.at("name");
    }
    struct Value {
        std::string step_type;  // type of the step that computes it
        bool eligible = false;  // a step's own output or a fusion's alias (not a view)
        bool relu = false;      // a ReLU was fused into that step
    };
    std::map<std::string, Value> values;
    std::vector<std::string> pairs;
    for (size_t i = 0; i < layers.size(); ++i) {
        const std::string name = layers[i].at("name"), t = layers[i].at("type"), src = inputs[i][0];
        if (t == "Flatten" || t == "Dropout") {
            values[name] = {src == "input" ? "" : values[src].step_type, false, false};
            continue;
        }
        if (src != "input" && readers[src] == 1 && values[src].eligible && !values[src].relu) {
            const std::string st = values[src].step_type;
            if (t == "BatchNorm2d" && st == "Conv2d") {
                pairs.push_back(name + " into " + st);
                values[name] = {st, true, false};
                continue;
            }
            if (t == "ReLU" && (st == "Conv2d" || st == "Linear" || st == "Add")) {
                pairs.push_back(name + " into " + st);
                values[name] = {st, true, true};
                continue;
            }
        }
        values[name] = {t, true, false};
    }
    return pairs;
}

// ---- every fixture model ----------------------------------------------------------------------

class ModelsPyTorch : public test::VulkanTest, public ::testing::WithParamInterface<json> {};

TEST_P(ModelsPyTorch, ForwardMatchesTorch) {
    const json& e = GetParam();
    ModelDescription d = load_fixture_model(e);
    Model& m = *d.model;
    EXPECT_EQ(m.name(), e.at("name").get<std::string>());
    EXPECT_EQ(d.input_shape, e.at("sample_shape").get<Shape>());
    EXPECT_EQ(m.parameter_count(), e.at("parameter_count").get<int64_t>());
    const auto cases = load_cases(e);
    ASSERT_FALSE(cases.empty());
    check_against_torch(m, cases, "fusion on");
    // A second forward reuses the compiled plan and must give the same result.
    const auto& c = cases.front();
    const auto again = m.forward(Tensor::from_host(test::context(), c.input.shape, c.input.data)).to_host();
    EXPECT_TRUE(test::all_close(again, c.output.data, 1e-4f * scale_of(c.output.data))) << "second forward";
}

TEST_P(ModelsPyTorch, FusionOffAgrees) {
    const json& e = GetParam();
    ModelDescription d = load_fixture_model(e);
    Model& m = *d.model;
    const auto cases = load_cases(e);
    ASSERT_FALSE(cases.empty());
    const auto fused = check_against_torch(m, cases, "fusion on");
    const uint32_t fused_dispatches = m.last_forward_stats().dispatches;
    m.set_fusion(false);
    const auto plain = check_against_torch(m, cases, "fusion off");
    const uint32_t plain_dispatches = m.last_forward_stats().dispatches;
    for (size_t i = 0; i < cases.size(); ++i)
        EXPECT_TRUE(test::all_close(fused[i], plain[i], 1e-4f * scale_of(cases[i].output.data))) << "fused vs unfused, " << cases[i].label;
    // Folding and fusion must really have happened where the model allows them.
    if (!fusable_pairs(e).empty()) EXPECT_LT(fused_dispatches, plain_dispatches) << "fusion on should record fewer dispatches";
}

TEST_P(ModelsPyTorch, FusionMergesEveryDocumentedPair) {
    // Each merged BatchNorm2d or ReLU saves its one dispatch (these tensors are small: one
    // dispatch per elementwise layer).
    const json& e = GetParam();
    ModelDescription d = load_fixture_model(e);
    Model& m = *d.model;
    const auto cases = load_cases(e);
    ASSERT_FALSE(cases.empty());
    const auto& c = cases.front();
    const Tensor x = Tensor::from_host(test::context(), c.input.shape, c.input.data);
    m.forward(x);
    const uint32_t fused = m.last_forward_stats().dispatches;
    m.set_fusion(false);
    m.forward(x);
    const uint32_t plain = m.last_forward_stats().dispatches;
    const auto pairs = fusable_pairs(e);
    std::string listed;
    for (const auto& p : pairs) listed += "\n  " + p;
    EXPECT_EQ(plain - fused, pairs.size()) << "fusion merged " << plain - fused << " layers; the documented rules merge:" << listed;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelsPyTorch, ::testing::ValuesIn(models_with_weights()),
                         [](const auto& info) { return info.param.at("dir").template get<std::string>(); });

TEST(ModelsPyTorchFixtures, ArePresent) {
    const auto models = models_with_weights();
    EXPECT_GE(models.size(), 5u) << "missing " << kDir << "manifest.json";
    std::set<std::string> dirs;
    for (const auto& m : models) dirs.insert(m.at("dir").get<std::string>());
    for (const char* d : {"simple_cnn", "landmark_cnn", "tiny_resnet", "misc_net", "functional_ops"})
        EXPECT_TRUE(dirs.count(d)) << d;
}

// ---- SimpleCNN --------------------------------------------------------------------------------

class SimpleCnnPyTorch : public test::VulkanTest {};

TEST_F(SimpleCnnPyTorch, NpyDirectoryWeightsMatchSafetensors) {
    const json e = manifest_entry("simple_cnn");
    const std::string dir = kDir + "simple_cnn/";
    ModelDescription from_st = load_fixture_model(e);
    ModelDescription from_npy = load_model_json(test::context(), dir + "model.json");
    from_npy.model->load_weights(dir + e.at("npy_weights").get<std::string>());
    const auto a = from_st.model->state_dict(), b = from_npy.model->state_dict();
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [k, v] : a) {
        ASSERT_TRUE(b.count(k)) << k;
        EXPECT_EQ(b.at(k).shape, v.shape) << k;
        EXPECT_EQ(b.at(k).data, v.data) << k;
    }
    const auto cases = load_cases(e);
    ASSERT_EQ(cases.size(), 2u);  // batch 2 and batch 1
    check_against_torch(*from_npy.model, cases, "npy weights");
}

TEST_F(SimpleCnnPyTorch, EngineFactoryLoadsTheTutorialStateDict) {
    // make_simple_cnn (used by the sample, the benchmark, the soak) is the same network: the
    // tutorial's state_dict loads by name and the outputs match PyTorch's.
    const json e = manifest_entry("simple_cnn");
    auto m = make_simple_cnn(test::context(), 5);
    m->load_weights(kDir + "simple_cnn/model.safetensors");
    check_against_torch(*m, load_cases(e), "make_simple_cnn");
    EXPECT_NEAR(simple_cnn_gflop(1), 2e-9 * (16 * 1024 * 27 + 32 * 256 * 144 + 64 * 64 * 288 + 10240), 1e-12);
}

TEST_F(SimpleCnnPyTorch, FunctionalCallsRunButAreNotModules) {
    // The tutorial's forward: F.max_pool2d(F.relu(self.convN(x)), 2) three times, x.view, self.fc.
    ModelDescription d = load_model_json(test::context(), kDir + "simple_cnn/model.json");
    std::vector<std::string> modules, functional;
    for (const auto& n : d.model->layer_names()) (d.model->is_functional(n) ? functional : modules).push_back(n);
    EXPECT_EQ(modules, (std::vector<std::string>{"conv1", "conv2", "conv3", "fc"}));
    EXPECT_EQ(functional, (std::vector<std::string>{"relu", "max_pool2d", "relu_1", "max_pool2d_1", "relu_2",
                                                    "max_pool2d_2", "view"}));
    const auto shapes = d.model->layer_shapes({2, 3, 32, 32});
    ASSERT_FALSE(shapes.empty());
    EXPECT_EQ(shapes.back().second, (Shape{2, 10}));
    for (const auto& [name, s] : shapes)
        if (name == "view") EXPECT_EQ(s, (Shape{2, 1024}));
    // The engine's factory is the same graph, names included.
    auto m = make_simple_cnn(test::context());
    EXPECT_EQ(m->layer_names(), d.model->layer_names());
    EXPECT_EQ(m->summary(), d.model->summary());
}

TEST_F(SimpleCnnPyTorch, SummaryEqualsTorch) {
    // print(SimpleCNN()) lists conv1..conv3 and fc only: relu, pooling and view are functional.
    ModelDescription d = load_model_json(test::context(), kDir + "simple_cnn/model.json");
    EXPECT_EQ(d.model->summary(), strip_trailing_newlines(read_text(kDir + "simple_cnn/summary.txt")));
    EXPECT_EQ(make_simple_cnn(test::context())->summary(), strip_trailing_newlines(read_text(kDir + "simple_cnn/summary.txt")));
}

// ---- LandmarkCNN ------------------------------------------------------------------------------

class LandmarkCnnPyTorch : public test::VulkanTest {};

TEST_F(LandmarkCnnPyTorch, SummaryShapesAndParameterCountEqualTorch) {
    // The tutorial's class: relu1 is applied again after fc1, which print(model) does not show.
    const json e = manifest_entry("landmark_cnn");
    ModelDescription d = load_fixture_model(e);
    EXPECT_EQ(d.model->summary(), strip_trailing_newlines(read_text(kDir + "landmark_cnn/summary.txt")));
    EXPECT_EQ(d.model->parameter_count(), e.at("parameter_count").get<int64_t>());
    EXPECT_TRUE(d.model->is_functional("relu1_1"));
    EXPECT_FALSE(d.model->is_functional("relu1"));
    for (const auto& [name, s] : d.model->layer_shapes({1, 3, 32, 32})) {
        if (name == "flatten") EXPECT_EQ(s, (Shape{1, 2048}));
        if (name == "fc2") EXPECT_EQ(s, (Shape{1, 10}));
    }
}

TEST_F(LandmarkCnnPyTorch, BatchNormBuffersLoadedFromI64AndFloat) {
    ModelDescription d = load_fixture_model(manifest_entry("landmark_cnn"));
    std::map<std::string, std::string> dtypes;
    const auto st = load_safetensors(kDir + "landmark_cnn/model.safetensors", &dtypes);
    for (const char* bn : {"bn1", "bn2", "bn3"}) EXPECT_EQ(dtypes.at(std::string(bn) + ".num_batches_tracked"), "I64");
    const auto sd = d.model->state_dict();
    EXPECT_EQ(sd.size(), st.size());
    for (const char* k : {"bn1.running_mean", "bn1.running_var", "bn2.weight", "bn3.bias", "bn1.num_batches_tracked",
                          "conv1.weight", "fc1.weight", "fc2.bias"}) {
        ASSERT_TRUE(sd.count(k)) << k;
        EXPECT_EQ(sd.at(k).data, st.at(k).data) << k;
        EXPECT_EQ(sd.at(k).shape, st.at(k).shape) << k;
    }
    // Random running statistics: folding is not the identity.
    const auto& var = sd.at("bn1.running_var").data;
    EXPECT_TRUE(std::any_of(var.begin(), var.end(), [](float v) { return std::fabs(v - 1.0f) > 0.05f; }));
}

TEST_F(LandmarkCnnPyTorch, NpyDirectoryAsNumpySaveWritesIt) {
    // load_weights documents a directory as numpy.save(f"{key}.npy", tensor.numpy()) per entry;
    // for BatchNorm2d's num_batches_tracked (int64) that writes a 0-d '<i8' array.
    const json e = manifest_entry("landmark_cnn");
    const fs::path dir = fs::path(::testing::TempDir()) / "vkconv_models_landmark_npy";
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const auto& [k, a] : load_safetensors(kDir + "landmark_cnn/model.safetensors")) {
        if (!k.ends_with("num_batches_tracked")) {
            save_npy((dir / (k + ".npy")).string(), a);
            continue;
        }
        // numpy.save(np.array(1008, dtype=np.int64)): NPY 1.0, preamble + header a multiple of 64.
        std::string header = "{'descr': '<i8', 'fortran_order': False, 'shape': (), }";
        header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
        header += '\n';
        std::vector<uint8_t> bytes = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<uint8_t>(header.size()), 0};
        bytes.insert(bytes.end(), header.begin(), header.end());
        const int64_t v = static_cast<int64_t>(a.data.at(0));
        for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i)));
        write_file_bytes((dir / (k + ".npy")).string(), bytes);
    }
    ModelDescription d = load_model_json(test::context(), kDir + "landmark_cnn/model.json");
    try {
        d.model->load_weights(dir.string());
        check_against_torch(*d.model, load_cases(e), "npy weights");
    } catch (const Error& err) {
        ADD_FAILURE() << "a directory written as load_weights documents it is refused: " << err.what();
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
}

// ---- load_weights refusals --------------------------------------------------------------------

// Passes if `f` throws vkconv::Error whose message contains every needle.
template <typename F>
::testing::AssertionResult throws_error_mentioning(F&& f, std::initializer_list<std::string> needles) {
    try {
        f();
    } catch (const Error& e) {
        const std::string message = e.what();
        for (const auto& needle : needles)
            if (message.find(needle) == std::string::npos)
                return ::testing::AssertionFailure() << "message \"" << message << "\" does not mention \"" << needle << "\"";
        return ::testing::AssertionSuccess();
    } catch (const std::exception& e) {
        return ::testing::AssertionFailure() << "threw a non-vkconv exception: " << e.what();
    }
    return ::testing::AssertionFailure() << "nothing was thrown";
}

#define EXPECT_VKCONV_ERROR(statement, ...) EXPECT_TRUE(throws_error_mentioning([&] { statement; }, {__VA_ARGS__}))

// A .safetensors file written by hand: entries in order, tightly packed.
struct RawTensor {
    std::string name, dtype;
    Shape shape;
    std::vector<uint8_t> bytes;
};

std::vector<uint8_t> make_safetensors(const std::vector<RawTensor>& tensors) {
    json header = json::object();
    uint64_t offset = 0;
    for (const auto& t : tensors) {
        header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
        offset += t.bytes.size();
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    std::vector<uint8_t> out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i)));
    out.insert(out.end(), text.begin(), text.end());
    for (const auto& t : tensors) out.insert(out.end(), t.bytes.begin(), t.bytes.end());
    return out;
}

using test::raw_bytes;

// The SimpleCNN state as hand-written F32 entries (name order).
std::vector<RawTensor> simple_cnn_raw() {
    std::vector<RawTensor> out;
    for (const auto& [k, a] : load_safetensors(kDir + "simple_cnn/model.safetensors")) out.push_back({k, "F32", a.shape, raw_bytes(a.data)});
    return out;
}

class LoadWeightsErrors : public test::VulkanTest {
protected:
    void SetUp() override {
        test::VulkanTest::SetUp();
        dir_ = fs::path(::testing::TempDir()) /
               ("vkconv_models_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        d_ = load_fixture_model(manifest_entry("simple_cnn"));
        cases_ = load_cases(manifest_entry("simple_cnn"));
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
        test::VulkanTest::TearDown();
    }
    std::string write(const std::string& name, const std::vector<uint8_t>& bytes) {
        const std::string p = (dir_ / name).string();
        write_file_bytes(p, bytes);
        return p;
    }
    // The model still computes what PyTorch does (a refused file changes nothing).
    void expect_unchanged() {
        SCOPED_TRACE("after a refused load_weights");
        check_against_torch(*d_.model, cases_, "unchanged");
    }
    Model& model() { return *d_.model; }

    fs::path dir_;
    ModelDescription d_;
    std::vector<Case> cases_;
};

TEST_F(LoadWeightsErrors, MissingUnexpectedAndWrongShapeInOneError) {
    auto state = load_safetensors(kDir + "simple_cnn/model.safetensors");
    state.erase("conv2.bias");                                              // missing
    state["conv4.weight"] = HostArray{{2, 2}, {1, 2, 3, 4}};                // unexpected
    state["fc.weight"] = HostArray{{10, 1000}, std::vector<float>(10000)};  // wrong shape
    const std::string p = (dir_ / "bad_keys.safetensors").string();
    save_safetensors(p, state);
    try {
        model().load_weights(p);
        ADD_FAILURE() << "load_weights accepted missing, unexpected and mis-shaped keys";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_THAT(msg, HasSubstr("SimpleCNN"));
        EXPECT_THAT(msg, HasSubstr("Missing key(s) in state_dict: \"conv2.bias\""));
        EXPECT_THAT(msg, HasSubstr("Unexpected key(s) in state_dict: \"conv4.weight\""));
        EXPECT_THAT(msg, HasSubstr("size mismatch for fc.weight"));
        EXPECT_THAT(msg, HasSubstr("[10, 1000]"));
        EXPECT_THAT(msg, HasSubstr("[10, 1024]"));
    }
    expect_unchanged();
    // Non-strict: missing and unexpected keys pass, a wrong shape still does not.
    EXPECT_VKCONV_ERROR(model().load_weights(p, false), "size mismatch for fc.weight");
    expect_unchanged();
}

TEST_F(LoadWeightsErrors, SeveralMissingKeysAllNamed) {
    auto raw = simple_cnn_raw();
    std::erase_if(raw, [](const RawTensor& t) { return t.name == "conv1.weight" || t.name == "fc.bias"; });
    const std::string p = write("missing.safetensors", make_safetensors(raw));
    EXPECT_VKCONV_ERROR(model().load_weights(p), "\"conv1.weight\"", "\"fc.bias\"", "Missing key(s)");
    expect_unchanged();
}

TEST_F(LoadWeightsErrors, I32WeightRefused) {
    auto raw = simple_cnn_raw();
    for (auto& t : raw)
        if (t.name == "conv1.weight") {
            t.dtype = "I32";
            std::vector<int32_t> ints(t.bytes.size() / 4, 1);
            t.bytes = raw_bytes(ints);
        }
    const std::string p = write("i32.safetensors", make_safetensors(raw));
    EXPECT_VKCONV_ERROR(model().load_weights(p), p, "conv1.weight", "I32");
    expect_unchanged();
}

TEST_F(LoadWeightsErrors, I64FloatParameterRefused) {
    // I64 is accepted only for integer buffers (num_batches_tracked), not for weights.
    auto raw = simple_cnn_raw();
    for (auto& t : raw)
        if (t.name == "conv3.bias") {
            t.dtype = "I64";
            std::vector<int64_t> ints(t.bytes.size() / 4, 2);
            t.bytes = raw_bytes(ints);
        }
    const std::string p = write("i64.safetensors", make_safetensors(raw));
    EXPECT_VKCONV_ERROR(model().load_weights(p), p, "conv3.bias", "I64");
    expect_unchanged();
}

TEST_F(LoadWeightsErrors, OtherFloatDtypesAccepted) {
    // F64 entries convert to the same F32 values (the fixture's values are F32-exact).
    std::vector<RawTensor> raw;
    for (const auto& [k, a] : load_safetensors(kDir + "simple_cnn/model.safetensors")) {
        std::vector<double> d(a.data.begin(), a.data.end());
        raw.push_back({k, "F64", a.shape, raw_bytes(d)});
    }
    const std::string p = write("f64.safetensors", make_safetensors(raw));
    model().load_weights(p);
    expect_unchanged();
}

TEST_F(LoadWeightsErrors, TruncatedFilesRefused) {
    const auto bytes = read_file_bytes(kDir + "simple_cnn/model.safetensors");
    ASSERT_GT(bytes.size(), 1000u);
    uint64_t header = 0;
    for (int i = 0; i < 8; ++i) header |= static_cast<uint64_t>(bytes[static_cast<size_t>(i)]) << (8 * i);
    const size_t cuts[] = {0, 5, 8 + static_cast<size_t>(header) / 2, 8 + static_cast<size_t>(header) + 100, bytes.size() / 2,
                           bytes.size() - 1};
    for (size_t cut : cuts) {
        SCOPED_TRACE("truncated to " + std::to_string(cut) + " of " + std::to_string(bytes.size()) + " bytes");
        const std::string p = write("cut_" + std::to_string(cut) + ".safetensors",
                                    std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut)));
        EXPECT_VKCONV_ERROR(model().load_weights(p), p);
    }
    expect_unchanged();
}

TEST_F(LoadWeightsErrors, NpyDirectoryErrors) {
    // Empty directory.
    const fs::path empty = dir_ / "empty";
    fs::create_directories(empty);
    EXPECT_VKCONV_ERROR(model().load_weights(empty.string()), empty.string(), "no .npy");
    // A directory missing one key, with one wrong shape.
    const fs::path partial = dir_ / "partial";
    fs::create_directories(partial);
    for (const auto& [k, a] : load_safetensors(kDir + "simple_cnn/model.safetensors")) {
        if (k == "conv3.weight") continue;
        if (k == "conv1.bias") {
            save_npy((partial / (k + ".npy")).string(), HostArray{{15}, std::vector<float>(15)});
            continue;
        }
        save_npy((partial / (k + ".npy")).string(), a);
    }
    EXPECT_VKCONV_ERROR(model().load_weights(partial.string()), "\"conv3.weight\"", "size mismatch for conv1.bias");
    // A truncated .npy file.
    const fs::path cut = dir_ / "cut";
    fs::create_directories(cut);
    for (const auto& [k, a] : load_safetensors(kDir + "simple_cnn/model.safetensors")) save_npy((cut / (k + ".npy")).string(), a);
    const std::string victim = (cut / "fc.weight.npy").string();
    auto b = read_file_bytes(victim);
    b.resize(b.size() / 2);
    write_file_bytes(victim, b);
    EXPECT_VKCONV_ERROR(model().load_weights(cut.string()), "fc.weight.npy");
    expect_unchanged();
}

TEST_F(LoadWeightsErrors, MissingFileRefused) {
    const std::string p = (dir_ / "does_not_exist.safetensors").string();
    EXPECT_VKCONV_ERROR(model().load_weights(p), p);
}

}  // namespace
}  // namespace vkconv
