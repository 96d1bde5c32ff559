"""Peak memory of the Numba backend relative to the outputs it returns.

Target (issue #2): FC ReLU depth 10 at n = 4000, peak memory during the call at
most 1.5x the bytes of the returned matrices. Each configuration runs in a
fresh subprocess: compile on a tiny input first, reset the kernel's peak-RSS
mark (VmHWM), then measure how far the peak rises above the resident set
before the call.
"""

import json
import subprocess
import sys

import pytest

_SCRIPT = r"""
import json, sys
import numpy as np
import ntkgd

def status_bytes(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

n, depth, activation, outputs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], tuple(sys.argv[4].split(","))
X = np.random.default_rng(0).standard_normal((n, 64))
X /= np.linalg.norm(X, axis=1, keepdims=True)
arch = ntkgd.FullyConnected(depth, activation)
ntkgd.analytic_gram(arch, X[:16], outputs=outputs)
# ru_maxrss survives exec (it would report the parent's peak); VmHWM can be reset.
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")
before = status_bytes("VmRSS")
g = ntkgd.analytic_gram(arch, X, outputs=outputs)
peak = status_bytes("VmHWM")
returned = [a for name in g.available() for a in (getattr(g, name) if name == "layers" else (getattr(g, name),))]
buffers = {id(b): b for b in (a if a.base is None else a.base for a in returned)}  # views share memory
print(json.dumps({"rise": peak - before, "outputs": sum(b.nbytes for b in buffers.values())}))
"""

CONFIGS = [
    pytest.param(256, 10, "relu", "paper,ntk,nngp", marks=pytest.mark.smoke),
    (4000, 10, "relu", "paper,ntk,nngp"),
    (4000, 10, "relu", "paper,ntk,layers,nngp"),
    (4000, 3, "softplus", "paper,ntk"),
]


@pytest.mark.parametrize("n,depth,activation,outputs", CONFIGS)
def test_peak_memory_over_outputs(benchmark, n, depth, activation, outputs):
    def measure():
        done = subprocess.run(
            [sys.executable, "-c", _SCRIPT, str(n), str(depth), activation, outputs],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return json.loads(done.stdout)

    result = benchmark.pedantic(measure, rounds=1)
    ratio = result["rise"] / result["outputs"]
    benchmark.extra_info.update(result, ratio=ratio)
    if n >= 1000:  # below that, allocator noise (a few MB) dominates the outputs
        assert ratio <= 1.5
