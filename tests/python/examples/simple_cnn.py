import numpy as np
import torch
import vkconv
import vkconv.nn as nn
import vkconv.nn.functional as F


# The tutorial's SimpleCNN, with vkconv.nn in place of torch.nn.
class SimpleCNN(nn.Module):
    def __init__(self):
        super(SimpleCNN, self).__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.fc = nn.Linear(64 * 4 * 4, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        x = x.view(-1, 64 * 4 * 4)
        x = self.fc(x)
        return x


model = SimpleCNN()
print(model)   # exactly as PyTorch prints it

# The state_dict trained in PyTorch and saved with torch.save(model.state_dict(), "simple_cnn.pt")
model.load_state_dict(torch.load("simple_cnn.pt"))

images = np.random.rand(8, 3, 32, 32).astype(np.float32)
# A vkconv.Tensor stays on the device from the first layer to the last.
logits = model(vkconv.Tensor.from_numpy(images)).numpy()
print(logits.argmax(axis=1))
