// image_storage.glsl: storage image <-> NCHW tensor, for one image format (IMAGE_FORMAT, set by
// the including file: a storage image declaration needs its format unless the device has
// shaderStorageImageReadWithoutFormat/WriteWithoutFormat). TO_TENSOR selects the direction.
// See image_tensor.glsl for the layout and which pixel each invocation owns.
#include "image_tensor.glsl"

layout(constant_id = 2) const bool TO_TENSOR = true;  // false: tensor -> image
layout(binding = 0, IMAGE_FORMAT) uniform image2D image;

void main() {
    const ivec2 xy = ivec2(gl_GlobalInvocationID.xy);
    if (outside(xy)) return;
    if (TO_TENSOR)
        store_pixel_to_tensor(xy, imageLoad(image, xy));
    else
        imageStore(image, xy, load_pixel_from_tensor(xy));
}
