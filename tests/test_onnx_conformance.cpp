// ONNX's own backend test data (Debian's libonnx-testdata): every test of data/node and
// data/pytorch-converted is loaded; those vkconv refuses (OnnxUnsupported: an operator, data type
// or attribute it does not implement) are listed with the reason, the others must match every
// expected output of every test_data_set_*.
//
// Tolerance, per element: |y - y_onnx| <= 1e-3 |y_onnx| + 1e-4 max|y_onnx|. The relative part is
// ONNX's own backend runner's rtol; the absolute part is the criterion vkconv's models are held to
// (1e-4 of the output's scale): an fp32 sum of K products in another order than the reference's
// differs by up to K 2^-24 sum|products|, about 6e-5 of the output scale for the K <= 1000 of
// these tests, which fits under it.
//
// The run writes onnx_conformance.tsv (suite, test, opset, operators, status, detail) to the
// working directory; tools/onnx_conformance_table.py turns it into the README's table.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "support/test_support.h"
#include "vkconv/onnx.h"

namespace vkconv::test {
namespace {

namespace fs = std::filesystem;
const fs::path kData = "/usr/share/libonnx-testdata/data";

struct Outcome {
    std::string status, detail;  // passed | failed | refused
};

// The reason without the supported-operator list, on one line.
std::string short_reason(std::string s) {
    if (auto p = s.find("; supported"); p != std::string::npos) s.resize(p);
    std::replace(s.begin(), s.end(), '\t', ' ');
    std::replace(s.begin(), s.end(), '\n', ' ');
    return s;
}

Outcome run_one(const fs::path& dir) {
    const std::string model_path = (dir / "model.onnx").string();
    const OnnxGraphInfo info = onnx_graph_info(model_path);
    std::vector<fs::path> sets;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
    std::sort(sets.begin(), sets.end());
    if (sets.empty()) return {"refused", "no test_data_set (ONNX's model tests without data)"};
    double worst = 0;
    // Test data that are not tensors (sequences, optionals) do not read as TensorProtos: the
    // model's own refusal says why.
    auto read = [&](const fs::path& f) {
        try {
            return load_onnx_tensor(f.string());
        } catch (const OnnxUnsupported&) {
            throw;
        } catch (const Error&) {
            load_onnx(context(), model_path, {});  // throws OnnxUnsupported for non-tensor inputs/outputs
            throw;
        }
    };
    for (const auto& set : sets) {
        OnnxLoadOptions opts;
        for (size_t k = 0;; ++k) {
            const fs::path f = set / ("input_" + std::to_string(k) + ".pb");
            if (!fs::exists(f)) break;
            OnnxTensorFile t = read(f);
            std::string name = k < info.inputs.size() ? info.inputs[k] : t.name;
            if (std::find(info.inputs.begin(), info.inputs.end(), t.name) != info.inputs.end()) name = t.name;
            opts.inputs[name] = std::move(t.array);
        }
        std::vector<std::pair<std::string, OnnxTensorFile>> expected;
        for (size_t k = 0;; ++k) {
            const fs::path f = set / ("output_" + std::to_string(k) + ".pb");
            if (!fs::exists(f)) break;
            OnnxTensorFile t = read(f);
            if (t.data_type != "FLOAT") return {"refused", "output " + std::to_string(k) + " is " + t.data_type + "; vkconv computes float32 only"};
            std::string name = k < info.outputs.size() ? info.outputs[k] : t.name;
            expected.emplace_back(name, std::move(t));
        }
        OnnxModel m;
        try {
            m = load_onnx(context(), model_path, opts);
        } catch (const OnnxUnsupported& e) {
            return {"refused", short_reason(e.what())};
        }
        const auto got = m.run(opts.inputs.at(m.input_name));
        for (const auto& [name, want] : expected) {
            auto it = got.find(name);
            if (it == got.end()) return {"failed", "no output '" + name + "'"};
            const HostArray& y = it->second;
            if (y.shape != want.array.shape)
                return {"failed", "output '" + name + "' has shape " + shape_str(y.shape) + ", expected " + shape_str(want.array.shape)};
            double scale = 0;
            for (float v : want.array.data) scale = std::max(scale, std::fabs(double(v)));
            for (size_t i = 0; i < y.data.size(); ++i) {
                const double w = want.array.data[i], g = y.data[i];
                if (std::isnan(w) && std::isnan(g)) continue;
                const double err = std::fabs(g - w), tol = 1e-3 * std::fabs(w) + 1e-4 * scale;
                if (!(err <= tol) && !(std::isinf(w) && g == w))
                    return {"failed", set.filename().string() + " output '" + name + "'[" + std::to_string(i) + "] = " + std::to_string(g) +
                                          ", expected " + std::to_string(w) + " (tolerance " + std::to_string(tol) + ")"};
                if (scale > 0) worst = std::max(worst, err / scale);
            }
        }
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "max |error| / output scale %.2g", worst);
    return {"passed", buf};
}

class OnnxConformance : public VulkanTest {};

TEST_F(OnnxConformance, BackendTestData) {
    if (!fs::exists(kData)) GTEST_SKIP() << kData << " is missing: install libonnx-testdata (scripts/common.sh lists it)";
    std::ofstream report("onnx_conformance.tsv");
    report << "suite\ttest\topset\toperators\tstatus\tdetail\n";
    std::map<std::string, int> counts;
    for (const char* suite : {"node", "pytorch-converted"}) {
        std::vector<fs::path> dirs;
        for (const auto& e : fs::directory_iterator(kData / suite))
            if (fs::exists(e.path() / "model.onnx")) dirs.push_back(e.path());
        std::sort(dirs.begin(), dirs.end());
        for (const auto& dir : dirs) {
            const std::string test = dir.filename().string();
            const OnnxGraphInfo info = onnx_graph_info((dir / "model.onnx").string());
            std::string ops;
            for (const auto& o : info.operators) ops += (ops.empty() ? "" : ",") + o;
            Outcome o;
            try {
                o = run_one(dir);
            } catch (const OnnxUnsupported& e) {
                o = {"refused", short_reason(e.what())};
            } catch (const std::exception& e) {
                o = {"failed", short_reason(e.what())};
            }
            ++counts[o.status];
            report << suite << '\t' << test << '\t' << info.opset << '\t' << ops << '\t' << o.status << '\t' << o.detail << '\n';
            if (o.status == "failed") ADD_FAILURE() << suite << "/" << test << " [" << ops << "]: " << o.detail;
            else if (o.status == "refused") std::printf("refused %s/%s [%s]: %s\n", suite, test.c_str(), ops.c_str(), o.detail.c_str());
            else std::printf("passed  %s/%s [%s]: %s\n", suite, test.c_str(), ops.c_str(), o.detail.c_str());
        }
    }
    std::printf("ONNX backend tests: %d passed, %d failed, %d refused\n", counts["passed"], counts["failed"], counts["refused"]);
    EXPECT_GT(counts["passed"], 0);
}

}  // namespace
}  // namespace vkconv::test
