"""The thread policy (docs/design.md, "Threads"): a Gram, then at once a BLAS eigensolver, under load.

Each configuration runs in a fresh process (the OpenMP wait policy is read when the pool starts):
a 500 x 500 FC Gram followed by ``eigvalsh`` of it, 15 times, with one busy process beside it to
load the 2 cores. Reported, not asserted against a wall clock: the ratios in ``extra_info`` come
from the same run. The one assertion is the policy's point: passive waiting is never much slower
than spinning for the BLAS call that follows a kernel.
"""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import json, time, numpy as np, ntkgd
X = np.random.default_rng(0).standard_normal((500, 20)); X /= np.linalg.norm(X, axis=1, keepdims=True)
arch = ntkgd.FullyConnected(3)
ntkgd.analytic_gram(arch, X, outputs=("paper",))
gram = eig = 0.0
for _ in range(15):
    t0 = time.perf_counter(); K = ntkgd.analytic_gram(arch, X, outputs=("paper",)).paper
    t1 = time.perf_counter(); np.linalg.eigvalsh(K); t2 = time.perf_counter()
    gram += (t1 - t0) / 15; eig += (t2 - t1) / 15
print(json.dumps({"gram_s": gram, "eigvalsh_s": eig}))
"""


def _run(policy: str) -> dict:
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.smoke
def test_passive_workers_do_not_slow_the_blas_call_that_follows(benchmark):
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        results = benchmark.pedantic(lambda: {p: _run(p) for p in ("ACTIVE", "PASSIVE")}, rounds=1)
    finally:
        busy.kill()
        busy.wait()
    ratio = results["PASSIVE"]["eigvalsh_s"] / results["ACTIVE"]["eigvalsh_s"]
    benchmark.extra_info.update(results=results, eigvalsh_passive_over_active=ratio)
    print(json.dumps(results, indent=1))
    assert ratio <= 1.5, results
