"""A trimmed copy of torchvision's ResNet in plain PyTorch, the reference for lucidnn's (torchvision is
not a test dependency). Same module names, same forward; only ``small_input`` (3x3 stem, no max pool)
is added, for the small ResNet."""

_LAYERS = {"resnet18": ("basic", [2, 2, 2, 2], 64), "resnet34": ("basic", [3, 4, 6, 3], 64),
           "resnet50": ("bottleneck", [3, 4, 6, 3], 64), "resnet_small": ("basic", [1, 1], 32)}


def build(torch, name, *, num_classes, in_channels, small_input):
    """torchvision's ``name`` (or the small ResNet) as a ``torch.nn.Module``."""
    nn = torch.nn

    def conv(c_in, c_out, k, stride=1):
        return nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False)

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1, self.bn1 = conv(inplanes, planes, 3, stride), nn.BatchNorm2d(planes)
            self.relu = nn.ReLU()
            self.conv2, self.bn2 = conv(planes, planes, 3), nn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + identity)

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1, self.bn1 = conv(inplanes, planes, 1), nn.BatchNorm2d(planes)
            self.conv2, self.bn2 = conv(planes, planes, 3, stride), nn.BatchNorm2d(planes)
            self.conv3, self.bn3 = conv(planes, planes * 4, 1), nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU()
            self.downsample = downsample

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + identity)

    block_name, layers, width = _LAYERS[name]
    block = BasicBlock if block_name == "basic" else Bottleneck

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            if small_input:
                self.conv1 = conv(in_channels, width, 3)
            else:
                self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU()
            self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, stride=2, padding=1)
            inplanes = width
            self.stages = []
            for i, blocks in enumerate(layers):
                planes, stride = width * 2**i, 1 if i == 0 else 2
                downsample = None
                if stride != 1 or inplanes != planes * block.expansion:
                    downsample = nn.Sequential(conv(inplanes, planes * block.expansion, 1, stride),
                                               nn.BatchNorm2d(planes * block.expansion))
                stage = [block(inplanes, planes, stride, downsample)]
                inplanes = planes * block.expansion
                stage += [block(inplanes, planes) for _ in range(1, blocks)]
                setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
                self.stages.append(f"layer{i + 1}")
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(inplanes, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            for stage in self.stages:
                x = getattr(self, stage)(x)
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet()
