#version 450
// strided_copy: one kernel family for the layers that move elements without computing
// (Permute/Transpose, Cat's copies, Chunk/Split slices that are not views).
//
// The copy covers a region of p.ndim <= 6 dimensions of sizes p.size[]; element c (a
// coordinate vector, row-major over the region) is read from src[p.src_offset + sum c_d *
// p.src_stride[d]] and written to dst[p.dst_offset + sum c_d * p.dst_stride[d]]. A permute reads
// with the input's strides permuted and writes contiguously; a concatenation writes each input
// into its slice of the output with the output's strides; a slice reads with the input's strides.
// Each workgroup owns 64 * ITEMS consecutive region elements (block gl_WorkGroupID.x +
// p.group_base). Every index fits 31 bits (tensors hold at most 2^31 - 1 elements).
layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;
layout(constant_id = 0) const int ITEMS = 4;  // elements per invocation

layout(std430, binding = 0) readonly buffer Src { float src[]; };
layout(std430, binding = 1) writeonly buffer Dst { float dst[]; };

layout(push_constant) uniform StridedCopyPushConstants {
    uint n;            // elements in the region
    uint group_base;   // block index of this dispatch's first workgroup
    uint src_offset;   // elements
    uint dst_offset;
    uint ndim;
    uint size[6];
    uint src_stride[6];
    uint dst_stride[6];
} p;

void main() {
    const uint block = gl_WorkGroupID.x + p.group_base;
    const uint first = block * uint(64 * ITEMS) + gl_LocalInvocationID.x;
    for (int k = 0; k < ITEMS; ++k) {
        const uint i = first + uint(k * 64);
        if (i >= p.n) return;
        uint rest = i, s = p.src_offset, d = p.dst_offset;
        for (int dim = int(p.ndim) - 1; dim >= 0; --dim) {
            const uint c = rest % p.size[dim];
            rest /= p.size[dim];
            s += c * p.src_stride[dim];
            d += c * p.dst_stride[dim];
        }
        dst[d] = src[s];
    }
}
