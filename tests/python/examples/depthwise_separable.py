import numpy as np
import vkconv

# Input: 3 channels, 5x5 image
input_tensor = np.random.randn(1, 3, 5, 5).astype(np.float32)

# Depthwise separable convolution: three 3x3 kernels (one per input channel), then a 1x1
# convolution that mixes the channels.
depthwise = vkconv.nn.Conv2d(3, 3, kernel_size=3, groups=3)
pointwise = vkconv.nn.Conv2d(3, 1, kernel_size=1)

# Perform depthwise and pointwise convolutions.
depthwise_output = depthwise(input_tensor)
final_output = pointwise(depthwise_output)

print("Depthwise output shape:", depthwise_output.shape)   # (1, 3, 3, 3)
print("Final output shape:", final_output.shape)           # (1, 1, 3, 3)

# Both as one module, the input uploaded once and the result downloaded once:
separable = vkconv.nn.Sequential(depthwise, pointwise)
print(separable)
assert np.allclose(separable(input_tensor), final_output, rtol=0, atol=1e-6)

# Parameter counts: standard vs grouped vs depthwise
standard_conv = vkconv.nn.Conv2d(64, 128, kernel_size=3, padding=1)
grouped_conv = vkconv.nn.Conv2d(64, 128, kernel_size=3, padding=1, groups=2)
depthwise_conv = vkconv.nn.Conv2d(64, 64, kernel_size=3, padding=1, groups=64)
for name, conv in [("Standard", standard_conv), ("Grouped", grouped_conv), ("Depthwise", depthwise_conv)]:
    print(f"{name} Conv2d parameters: {sum(p.size for p in conv.parameters())}")   # 73856, 36992, 640
