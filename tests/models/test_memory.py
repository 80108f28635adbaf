"""Memory: a ResNet-18 training step at batch 32 on 3x224x224 stays far below 6 GiB resident."""

import subprocess
import sys

SCRIPT = """
import resource, numpy as np, lucidnn
from lucidnn import nn
from lucidnn.models import get_model
model = get_model("resnet18", rng=lucidnn.Generator(0))
x = lucidnn.tensor(np.random.default_rng(0).standard_normal((32, 3, 224, 224)).astype(np.float32))
y = lucidnn.tensor(np.random.default_rng(1).integers(0, 1000, 32))
nn.CrossEntropyLoss()(model(x), y).backward()
assert all(p.grad is not None for p in model.parameters())
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux
"""


def test_resnet18_batch32_forward_backward_peak_rss_below_6_gib():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600, check=True)
    peak_gib = int(result.stdout.split()[-1]) / 1024**2
    assert peak_gib < 6.0, f"peak resident memory {peak_gib:.2f} GiB"
