"""dltricks/torch_compat.py: an eager run never imports torch's compiler, and its unwrapped
optimizer step is the step. These fail loudly if an upgrade of torch changes the mechanism."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from conftest import ROOT

from dltricks import torch_compat
from dltricks.optim.lookahead import Lookahead


def test_torch_still_wraps_its_optimizers_the_way_torch_compat_expects():
    assert torch_compat.skip_dynamo_wrappers()
    for name in torch_compat.WRAPPED:
        fn = getattr(torch.optim.Optimizer, name).__wrapped__
        assert fn.__dynamo_disable is fn or callable(fn.__dynamo_disable)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        lambda p: torch.optim.Adam(p, lr=0.01),
        lambda p: Lookahead(torch.optim.Adam(p, lr=0.01), k=2),
    ],
    ids=["sgd", "adam", "lookahead"],
)
def test_the_eager_step_is_the_step(make):
    torch.manual_seed(0)
    a, b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    opt_a, opt_b = make(a.parameters()), make(b.parameters())
    step_b = torch_compat.eager_step(opt_b)
    for _ in range(5):
        x = torch.randn(8, 4)
        for model, opt, step in ((a, opt_a, opt_a.step), (b, opt_b, step_b)):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            step()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


RUN = """
import sys, tempfile
from pathlib import Path
from dltricks import config, train
from dltricks.run_record import Job
for overrides in ({cases}):
    cfg = config.load([*overrides, "trainer.epochs=1", "model.width=8"])
    train.run(cfg, Job(Path(tempfile.mkdtemp())))
assert "torch._dynamo" not in sys.modules, "torch._dynamo was imported"
"""


def test_an_eager_run_never_imports_torchs_compiler():
    cases = [
        ["optimizer=adam", "regularization=[grad_clip,l2]", "trainer.probes=true"],
        ["optimizer=swats", "lookahead.k=2", "average.start=0.5"],
        ["optimizer=nadam", "norm=batch", "regularization=[dropout,early_stopping]"],
    ]
    code = RUN.format(cases=", ".join(repr(c) for c in cases))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_eager_step_runs_the_optimizers_step_hooks():
    from torch.optim.optimizer import (
        register_optimizer_step_post_hook,
        register_optimizer_step_pre_hook,
    )

    model = torch.nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen: list[str] = []
    opt.register_step_pre_hook(lambda o, a, k: seen.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: seen.append("post"))
    handles = [
        register_optimizer_step_pre_hook(lambda o, a, k: seen.append("global pre")),
        register_optimizer_step_post_hook(lambda o, a, k: seen.append("global post")),
    ]
    try:
        model(torch.randn(2, 4)).sum().backward()
        before = model.weight.detach().clone()
        torch_compat.eager_step(opt)()
    finally:
        for h in handles:
            h.remove()
    assert seen == ["global pre", "pre", "post", "global post"]  # torch's own order
    assert not torch.equal(model.weight, before)
