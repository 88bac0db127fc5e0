import numpy as np
import vkconv

# Create an input tensor (1 batch, 1 channel, 8x8 image)
input_tensor = np.zeros((1, 1, 8, 8), np.float32)
# Create a simple pattern for visualization
input_tensor[0, 0, 2:6, 2:6] = 1.0

# Conv2d with stride=1, padding=0
conv1 = vkconv.nn.Conv2d(1, 1, kernel_size=3, stride=1, padding=0)
# Initialize weights to highlight edges
conv1.weight = np.array([[[[1.0, 0.0, -1.0],
                           [1.0, 0.0, -1.0],
                           [1.0, 0.0, -1.0]]]], np.float32)
conv1.bias = np.array([0.0], np.float32)
output1 = conv1(input_tensor)

# Conv2d with stride=2, padding=1
conv2 = vkconv.nn.Conv2d(1, 1, kernel_size=3, stride=2, padding=1)
# Use same weights as conv1
conv2.weight = conv1.weight
conv2.bias = conv1.bias
output2 = conv2(input_tensor)

print(f"Input shape: {input_tensor.shape}")                        # (1, 1, 8, 8)
print(f"Output shape (stride=1, padding=0): {output1.shape}")      # (1, 1, 6, 6)
print(f"Output shape (stride=2, padding=1): {output2.shape}")      # (1, 1, 4, 4)
print(output2[0, 0])

# The same with the functional form, as torch.nn.functional.conv2d:
assert (vkconv.conv2d(input_tensor, conv1.weight, conv1.bias, stride=2, padding=1) == output2).all()
