import torch
import torchvision.models as models
import vkconv

# ResNet-18 with the tutorial's new classifier (models.resnet18(pretrained=True) for the trained weights)
resnet = models.resnet18()
resnet.fc = torch.nn.Linear(resnet.fc.in_features, 10)

# Traced, checked and moved to vkconv in-process; weights included.
model = vkconv.from_torch(resnet, torch.randn(1, 3, 224, 224))
print(model.conv1)   # Conv2d(3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)

x = torch.randn(1, 3, 224, 224)
y = model(x)                       # a numpy array, [1, 10]
with torch.no_grad():
    print("max |vkconv - torch|:", abs(y - resnet(x).numpy()).max())
