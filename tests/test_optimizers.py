"""Every optimizer of conf/optimizer against a hand-written reference of its update formula
(micrograd-style: the same thing computed twice), on a tiny fixed problem."""

from __future__ import annotations

import copy
import math
from functools import partial

import pytest
import torch
from torch import nn

from dltricks import config, optim, targets
from dltricks.optim.adabound import AdaBound
from dltricks.optim.lookahead import Lookahead
from dltricks.optim.swats import SWATS

F64 = torch.float64  # references in float64: a 1e-6 match is not float32 noise
H = torch.tensor(
    [[3.0, 0.5, 0.0, 0.2], [0.5, 2.0, 0.1, 0.0], [0.0, 0.1, 1.0, 0.3], [0.2, 0.0, 0.3, 0.5]],
    dtype=F64,
)
C = torch.tensor([1.0, -2.0, 0.5, 1.5], dtype=F64)
W0 = torch.tensor([[0.5, -0.3, 0.8, -1.0]], dtype=F64)


def loss_of(w: torch.Tensor) -> torch.Tensor:
    """A convex quadratic: 0.5 w H w^T - c . w (minimum at H^-1 c)."""
    return 0.5 * (w @ H @ w.T).squeeze() - (w @ C).squeeze()


def grad_of(w: torch.Tensor) -> torch.Tensor:
    return w @ H - C


def configured(name: str, *overrides: str):
    """(the optimizer's node, the lookahead node, the factory), as `train` builds them."""
    cfg = config.load([f"optimizer={name}", *overrides])
    return cfg.optimizer, cfg.lookahead, targets.instantiate(cfg.optimizer)


def run(name: str, steps: int, *overrides: str) -> list[torch.Tensor]:
    """Weights after each step of the configured optimizer (as `train` builds it)."""
    model = nn.Linear(4, 1, bias=False, dtype=F64)  # a 2-D weight: in the decayed group
    with torch.no_grad():
        model.weight.copy_(W0)
    _, lookahead, factory = configured(name, *overrides)
    opt = optim.build(factory, model, lookahead.k, lookahead.alpha)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss_of(model.weight).backward()
        opt.step()
        out.append(model.weight.detach().clone())
    return out


# ---- references: the seeds' formulas, one line each where possible (g = gradient)


def ref_sgd(h, steps):
    w, out = W0.clone(), []
    for _ in range(steps):
        w = w - h.lr * grad_of(w)
        out.append(w)
    return out


def ref_momentum(h, steps, nesterov=False):
    w, v, out = W0.clone(), torch.zeros_like(W0), []
    for _ in range(steps):
        g = grad_of(w)
        v = h.momentum * v + g  # torch's convention: v = mu v + g; w -= lr v
        w = w - h.lr * (g + h.momentum * v if nesterov else v)
        out.append(w)
    return out


def ref_adagrad(h, steps):
    w, s, out = W0.clone(), torch.zeros_like(W0), []
    for _ in range(steps):
        g = grad_of(w)
        s = s + g * g
        w = w - h.lr * g / (s.sqrt() + h.eps)
        out.append(w)
    return out


def ref_adadelta(h, steps):
    w, eg, ex, out = W0.clone(), torch.zeros_like(W0), torch.zeros_like(W0), []
    for _ in range(steps):
        g = grad_of(w)
        eg = h.rho * eg + (1 - h.rho) * g * g
        dx = (ex + h.eps).sqrt() / (eg + h.eps).sqrt() * g
        ex = h.rho * ex + (1 - h.rho) * dx * dx
        w = w - h.lr * dx
        out.append(w)
    return out


def ref_rmsprop(h, steps):
    w, s, out = W0.clone(), torch.zeros_like(W0), []
    for _ in range(steps):
        g = grad_of(w)
        s = h.alpha * s + (1 - h.alpha) * g * g
        w = w - h.lr * g / (s.sqrt() + h.eps)
        out.append(w)
    return out


def ref_adam(h, steps, amsgrad=False, decoupled=0.0):
    b1, b2 = h.betas
    w, m, v, vmax, out = W0.clone(), 0 * W0, 0 * W0, 0 * W0, []
    for t in range(1, steps + 1):
        g = grad_of(w)
        w = w * (1 - h.lr * decoupled)  # AdamW: decay outside the adaptive step
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = torch.maximum(vmax, v)
        m_hat, v_hat = m / (1 - b1**t), (vmax if amsgrad else v) / (1 - b2**t)
        w = w - h.lr * m_hat / (v_hat.sqrt() + h.eps)
        out.append(w)
    return out


def ref_sgdw(h, steps):
    w, v, out = W0.clone(), None, []
    for _ in range(steps):
        g = grad_of(w)
        v = g if v is None else h.momentum * v + g
        w = w - h.lr * v - h.lr * h.weight_decay * w
        out.append(w)
    return out


def ref_adabound(h, steps):
    b1, b2 = h.betas
    w, m, v, out = W0.clone(), 0 * W0, 0 * W0, []
    for t in range(1, steps + 1):
        g = grad_of(w)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        lower = h.final_lr * (1 - 1 / (h.gamma * t + 1))
        upper = h.final_lr * (1 + 1 / (h.gamma * t))
        size = h.lr * math.sqrt(1 - b2**t) / (1 - b1**t) / (v.sqrt() + h.eps)
        w = w - size.clamp(lower, upper) * m
        out.append(w)
    return out


def torch_class(cls):
    def reference(h, steps):
        w = nn.Parameter(W0.clone())
        skip = ("_target_", "_partial_", "lookahead", "search")  # search: the option's space
        kwargs = {k: v for k, v in h.items() if k not in skip}
        opt = cls([w], **{k: tuple(v) if k == "betas" else v for k, v in kwargs.items()})
        out = []
        for _ in range(steps):
            opt.zero_grad()
            loss_of(w).backward()
            opt.step()
            out.append(w.detach().clone())
        return out

    return reference


REFERENCES = {
    "sgd": ref_sgd,
    "momentum": ref_momentum,
    "nesterov": partial(ref_momentum, nesterov=True),
    "adagrad": ref_adagrad,
    "adadelta": ref_adadelta,
    "rmsprop": ref_rmsprop,
    "adam": ref_adam,
    "amsgrad": partial(ref_adam, amsgrad=True),
    "adamw": lambda h, s: ref_adam(h, s, decoupled=h.weight_decay),
    "sgdw": ref_sgdw,
    "adabound": ref_adabound,
    "swats": ref_adam,  # before it switches, SWATS is Adam
    "nadam": torch_class(torch.optim.NAdam),  # torch has them: the reference is torch's class
    "radam": torch_class(torch.optim.RAdam),
}


def test_every_optimizer_option_has_a_reference():
    assert set(REFERENCES) == set(config.options("optimizer"))


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_first_three_steps_match_the_reference(name):
    hyper, _, _ = configured(name)
    got, expected = run(name, 3), REFERENCES[name](hyper, 3)
    for step, (a, b) in enumerate(zip(got, expected, strict=True), start=1):
        assert torch.allclose(a, b, atol=1e-6, rtol=0), f"step {step}: {a} != {b}"
    assert not torch.allclose(got[0], W0)


# lr for the convergence test where the default is tuned for networks, not this quadratic
CONVERGENCE_LR = {
    "adagrad": 0.5,
    "rmsprop": 0.01,
    "adam": 0.05,
    "amsgrad": 0.05,
    "adamw": 0.05,
    "nadam": 0.05,
    "radam": 0.05,
    "adabound": 0.05,
    "swats": 0.05,
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_every_optimizer_minimizes_a_convex_quadratic(name):
    best = loss_of(torch.linalg.solve(H, C).view(1, -1))
    start = loss_of(W0) - best
    extra = [f"optimizer.lr={CONVERGENCE_LR[name]}"] if name in CONVERGENCE_LR else []
    if name in ("adamw", "sgdw"):
        extra.append("optimizer.weight_decay=0")  # decay moves the minimum
    final = run(name, 3000, *extra)[-1]
    assert (loss_of(final) - best) < 1e-3 * start


def test_lookahead_moves_the_slow_weights_alpha_of_the_way():
    k, alpha = 5, 0.3
    fast = run("sgd", k)[-1]  # k plain steps from W0
    wrapped = run("sgd", k, f"lookahead.k={k}", f"lookahead.alpha={alpha}")
    assert torch.allclose(wrapped[-1], W0 + alpha * (fast - W0), atol=1e-12)
    assert torch.allclose(wrapped[k - 2], run("sgd", k - 1)[-1])  # fast steps in between


def test_lookahead_state_dict_round_trip_keeps_the_slow_weights():
    def make():
        w = nn.Parameter(W0.clone())
        return w, Lookahead(torch.optim.SGD([w], lr=0.1, momentum=0.9), k=5, alpha=0.5)

    def steps(w, opt, n):
        for _ in range(n):
            opt.zero_grad()
            loss_of(w).backward()
            opt.step()

    w, opt = make()
    steps(w, opt, 3)
    saved, w_saved = copy.deepcopy(opt.state_dict()), w.detach().clone()  # a snapshot
    steps(w, opt, 4)
    w2, opt2 = make()
    with torch.no_grad():
        w2.copy_(w_saved)
    opt2.load_state_dict(saved)
    assert torch.equal(opt2.slow[0], saved["slow"][0]) and opt2.steps == 3
    steps(w2, opt2, 4)
    assert torch.equal(w, w2)


def swats_run(steps: int, switch_eps: float):
    w = nn.Parameter(W0.clone())
    opt = SWATS([w], lr=0.05, switch_eps=switch_eps)
    phases, trace = [], []
    for _ in range(steps):
        before = w.detach().clone()
        opt.zero_grad()
        loss_of(w).backward()
        opt.step()
        phases.append(opt.phase())
        trace.append((before, w.detach().clone()))
    return opt, phases, trace


def test_swats_switches_once_and_never_back():
    opt, phases, _ = swats_run(200, switch_eps=1e-3)
    switch = opt.stats()["swats_switch_step"]
    assert switch is not None and switch > 1
    assert phases[switch - 1 :] == ["sgd"] * (200 - switch + 1)
    assert set(phases[: switch - 1]) == {"adam"}
    assert opt.stats()["swats_switch_step"] == switch and opt.stats()["swats_sgd_lr"] > 0


def swats_algorithm_1(steps: int, lr: float, eps: float, betas=(0.9, 0.999), adam_eps=1e-8):
    """Keskar & Socher (2017), Algorithm 1, line by line (k, m, a, lambda, p, gamma, Lambda
    as in the paper; one phase for the whole parameter vector, as for one param group)."""
    b1, b2 = betas
    w, m, a, lam, v = W0.clone(), torch.zeros_like(W0), torch.zeros_like(W0), 0.0, None
    phase, Lam, switched, out = "adam", None, None, []
    for k in range(1, steps + 1):
        g = grad_of(w)
        if phase == "sgd":
            v = b1 * v + g  # line 6
            w = w - (1 - b1) * Lam * v  # line 7
            out.append(w.clone())
            continue
        m = b1 * m + (1 - b1) * g  # line 10
        a = b2 * a + (1 - b2) * g * g  # line 11
        p = -lr * math.sqrt(1 - b2**k) / (1 - b1**k) * m / (a.sqrt() + adam_eps)  # line 12
        w = w + p  # line 13
        pg = float((p * g).sum())
        if pg != 0:  # line 14
            gamma = float((p * p).sum()) / -pg  # line 15
            lam = b2 * lam + (1 - b2) * gamma  # line 16
            if k > 1 and abs(lam / (1 - b2**k) - gamma) < eps:  # line 17
                phase, v, Lam, switched = "sgd", torch.zeros_like(w), lam / (1 - b2**k), k
        out.append(w.clone())
    return out, switched


def test_swats_follows_algorithm_1_through_the_switch():
    opt, _, trace = swats_run(200, switch_eps=1e-3)
    expected, switched = swats_algorithm_1(200, lr=0.05, eps=1e-3)
    assert switched is not None and opt.stats()["swats_switch_step"] == switched
    for step, ((_, got), want) in enumerate(zip(trace, expected, strict=True), start=1):
        assert torch.allclose(got, want, atol=1e-10), f"step {step}"


def test_swats_sgd_phase_is_momentum_sgd_at_the_estimated_rate():
    opt, phases, trace = swats_run(10, switch_eps=1e9)  # forced: switches at step 2
    assert phases == ["adam"] + ["sgd"] * 9
    assert opt.stats()["swats_switch_step"] == 2
    rate = opt.stats()["swats_sgd_lr"]
    beta1 = opt.param_groups[0]["betas"][0]
    v = torch.zeros_like(W0)
    for before, after in trace[2:]:
        v = beta1 * v + grad_of(before)
        assert torch.allclose(after, before - (1 - beta1) * rate * v, atol=1e-12)


def test_swats_step_never_waits_for_the_host(monkeypatch):
    # on a GPU every float(), .item() or `if tensor` in a step stalls it: none may run
    w = nn.Parameter(W0.clone())
    opt = SWATS([w], lr=0.05, switch_eps=1e-3)

    def host_sync(*args):
        raise AssertionError("a host sync in SWATS.step")

    for name in ("item", "tolist", "__float__", "__int__", "__bool__", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, host_sync)
    for _ in range(200):  # through the switch (at step 30-40 here)
        opt.zero_grad()
        loss_of(w).backward()
        opt.step()
    monkeypatch.undo()
    assert opt.phase() == "sgd"


def test_swats_state_dict_round_trip_goes_on_bit_for_bit():
    def steps(opt, w, n):
        for _ in range(n):
            opt.zero_grad()
            loss_of(w).backward()
            opt.step()

    w = nn.Parameter(W0.clone())
    opt = SWATS([w], lr=0.05, switch_eps=1e-3)
    steps(opt, w, 20)
    saved, w_saved = copy.deepcopy(opt.state_dict()), w.detach().clone()
    steps(opt, w, 100)
    w2 = nn.Parameter(w_saved)
    opt2 = SWATS([w2], lr=0.05, switch_eps=1e-3)
    opt2.load_state_dict(saved)
    steps(opt2, w2, 100)
    assert torch.equal(w, w2) and opt2.stats() == opt.stats()


def test_adabound_effective_step_stays_inside_its_bounds():
    w = nn.Parameter(W0.clone())
    opt = AdaBound([w], lr=0.05, final_lr=0.1, gamma=0.05)
    for t in range(1, 60):
        before = w.detach().clone()
        opt.zero_grad()
        loss_of(w).backward()
        opt.step()
        m = opt.state[w]["exp_avg"]
        effective = (before - w.detach()) / m  # the per-parameter step size actually taken
        lower, upper = AdaBound.bounds(0.1, 0.05, t)
        assert torch.all(effective >= lower - 1e-9) and torch.all(effective <= upper + 1e-9)
    assert upper - lower < 0.1  # the bounds have closed in on final_lr


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("optimizer.lr=-0.1", "optimizer.lr"),
        ("optimizer=adam optimizer.betas=[0.9,1.0]", "optimizer.betas"),
        ("optimizer=adam optimizer.betas=[-0.1,0.9]", "optimizer.betas"),
        ("lookahead.k=0", "lookahead.k"),
        ("lookahead.alpha=0", "lookahead.alpha"),
        ("lookahead.alpha=1.5", "lookahead.alpha"),
        ("optimizer=adabound optimizer.final_lr=0", "optimizer.final_lr"),
        ("optimizer=rmsprop optimizer.alpha=1.0", "optimizer.alpha"),
    ],
)
def test_bad_optimizer_values_are_refused_naming_the_key(override, named):
    with pytest.raises(config.ConfigError, match=named.replace(".", r"\.")):
        config.load(override.split())


# ---- where torch's class differs from the notes' formula (documented next to the option)


def test_torch_rmsprop_first_step_is_ten_times_the_notes():
    # torch starts the squared-gradient average at 0: v1 = (1 - alpha) g^2; the notes at g0^2
    w = torch.ones(3, requires_grad=True)
    w.grad = torch.tensor([0.3, -2.0, 5.0])
    torch.optim.RMSprop([w], lr=0.01, alpha=0.99, eps=0.0).step()
    torch_step = (1 - w.detach()).abs()
    notes_step = 0.01 * torch.ones(3)  # lr * g / sqrt(g^2)
    assert torch.allclose(torch_step, 10 * notes_step, rtol=1e-5)


def test_torch_nadam_warms_its_momentum_up_from_about_half_beta1():
    beta1, decay = 0.9, 0.004

    def mu(t: int, momentum_decay: float) -> float:  # torch.optim.NAdam's schedule
        return beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))

    assert mu(1, decay) == pytest.approx(0.45, abs=1e-3)  # the notes: 0.9 from step 1
    assert mu(10_000, decay) < 0.82 and mu(100_000, decay) > 0.899  # beta1 only at last
    assert mu(1, 0.0) == mu(10_000, 0.0) == pytest.approx(0.45)  # not the notes' 0.9 either
    # and torch's class follows that schedule: its first step uses mu_1, not beta1
    w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    w.grad = torch.ones(1, dtype=torch.float64)
    torch.optim.NAdam([w], lr=1.0, betas=(beta1, 0.999), eps=0.0).step()
    m1, m2 = mu(1, decay), mu(2, decay)
    expected = (1 - m1) / (1 - m1) + m2 * (1 - beta1) / (1 - m1 * m2)  # g/sqrt(v_hat) = 1
    assert -w.item() == pytest.approx(expected, rel=1e-6)


def test_torch_radam_rectifies_from_rho_above_5_where_the_notes_say_4():
    beta2 = 0.999
    rho_inf = 2 / (1 - beta2) - 1

    def rho(t: int) -> float:
        return rho_inf - 2 * t * beta2**t / (1 - beta2**t)

    first = {limit: next(t for t in range(1, 100) if rho(t) > limit) for limit in (4, 5)}
    assert first == {4: 5, 5: 6}
    torch.manual_seed(0)
    grads = [torch.randn(4, dtype=torch.float64) for _ in range(6)]
    w = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.RAdam([w], lr=0.1, betas=(0.9, beta2))
    m, adaptive = torch.zeros(4, dtype=torch.float64), []
    for t, g in enumerate(grads, start=1):
        before = w.detach().clone()
        w.grad = g
        opt.step()
        m = 0.9 * m + 0.1 * g
        momentum_step = 0.1 * m / (1 - 0.9**t)  # the un-rectified SGD-with-momentum step
        adaptive.append(not torch.allclose(before - w.detach(), momentum_step))
    assert adaptive == [False] * 5 + [True]  # step 5 (rho > 4) is still plain momentum


# ---- `form: paper`: where torch's rule and the paper's algorithm part ways (the YAMLs say how)

ETA = [1.0, 0.9, 0.7, 0.5, 0.3, 0.2, 0.1, 0.05] * 25  # a schedule's multipliers, 200 steps


def scheduled(name: str, *overrides: str, etas: list[float] = ETA) -> list[torch.Tensor]:
    """Weights after each step, the rate set to lr * ETA[t] before it (as the loop does)."""
    model = nn.Linear(4, 1, bias=False, dtype=F64)
    with torch.no_grad():
        model.weight.copy_(W0)
    _, lookahead, factory = configured(name, *overrides)
    opt = optim.build(factory, model, lookahead.k, lookahead.alpha)
    out = []
    for eta in etas:
        optim.set_lr(opt, eta)
        opt.zero_grad()
        loss_of(model.weight).backward()
        opt.step()
        out.append(model.weight.detach().clone())
    return out


def adamw_algorithm_2(lr, wd, betas=(0.9, 0.999), eps=1e-8):
    """Loshchilov & Hutter (2019), Algorithm 2, line 12: w <- w - eta_t (alpha m_hat /
    (sqrt(v_hat) + eps) + lambda w)."""
    b1, b2 = betas
    w, m, v, out = W0.clone(), 0 * W0, 0 * W0, []
    for t, eta in enumerate(ETA, start=1):
        g = grad_of(w)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        w = w - eta * (lr * m_hat / (v_hat.sqrt() + eps) + wd * w)
        out.append(w)
    return out


def sgdw_algorithm_1(lr, momentum, wd):
    """Loshchilov & Hutter (2019), Algorithm 1: m <- beta1 m + eta_t alpha g;
    w <- w - m - eta_t lambda w."""
    w, m, out = W0.clone(), 0 * W0, []
    for eta in ETA:
        m = momentum * m + eta * lr * grad_of(w)
        w = w - m - eta * wd * w
        out.append(w)
    return out


def amsgrad_algorithm_2(lr, steps, betas=(0.9, 0.999), eps=1e-8):
    """Reddi et al. (2018), Algorithm 2 at a constant rate and beta1 (eps as in practice):
    no bias correction anywhere."""
    b1, b2 = betas
    w, m, v, v_max, out = W0.clone(), 0 * W0, 0 * W0, 0 * W0, []
    for _ in range(steps):
        g = grad_of(w)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        v_max = torch.maximum(v_max, v)
        w = w - lr * m / (v_max.sqrt() + eps)
        out.append(w)
    return out


def close_all(got, want, atol=1e-12):
    for step, (a, b) in enumerate(zip(got, want, strict=True), start=1):
        assert torch.allclose(a, b, atol=atol, rtol=0), f"step {step}: {a} != {b}"


def test_adamw_paper_form_is_algorithm_2_and_torchs_decays_by_the_rate():
    lr, wd = 0.05, 0.1
    paper = scheduled(
        "adamw", "optimizer.form=paper", f"optimizer.lr={lr}", f"optimizer.weight_decay={wd}"
    )
    close_all(paper, adamw_algorithm_2(lr, wd))
    torch_form = scheduled("adamw", f"optimizer.lr={lr}", f"optimizer.weight_decay={wd}")
    close_all(torch_form, adamw_algorithm_2(lr, wd * lr))  # torch's key is lambda / alpha
    assert (paper[-1] - torch_form[-1]).abs().max() > 0.05


def test_sgdw_paper_form_is_algorithm_1():
    lr, mu, wd = 0.05, 0.9, 0.01
    hyper = [f"optimizer.lr={lr}", f"optimizer.momentum={mu}", f"optimizer.weight_decay={wd}"]
    close_all(scheduled("sgdw", "optimizer.form=paper", *hyper), sgdw_algorithm_1(lr, mu, wd))
    constant = [f"optimizer.lr={lr}", f"optimizer.momentum={mu}", "optimizer.weight_decay=0"]
    flat = [1.0] * 50  # at a constant rate and no decay, the two forms are one
    paper = scheduled("sgdw", "optimizer.form=paper", *constant, etas=flat)
    close_all(paper, scheduled("sgdw", *constant, etas=flat))


def test_amsgrad_paper_form_is_algorithm_2_torchs_corrects_the_bias():
    lr = 0.01
    paper = run("amsgrad", 200, "optimizer.form=paper", f"optimizer.lr={lr}")
    close_all(paper, amsgrad_algorithm_2(lr, steps=200))
    torch_form = run("amsgrad", 200, f"optimizer.lr={lr}")
    w = nn.Parameter(W0.clone())
    reference = torch.optim.Adam([w], lr=lr, amsgrad=True)
    for step in range(200):
        reference.zero_grad()
        loss_of(w).backward()
        reference.step()
        assert torch.equal(torch_form[step], w.detach()), f"step {step + 1}"
    assert (paper[-1] - torch_form[-1]).abs().max() > 1  # 2.2 apart


def test_an_unknown_form_is_refused_naming_the_key():
    with pytest.raises(config.ConfigError, match=r"optimizer\.form.*torch or paper"):
        config.load(["optimizer=adamw", "optimizer.form=tensorflow"])


def test_amsgrad_groups_of_both_forms_in_one_optimizer_keep_their_own_rule():
    # the stacked launcher steps many members' groups as one optimizer: each keeps its form
    from dltricks.optim.amsgrad import AMSGrad

    torch_w, paper_w = nn.Parameter(W0.clone()), nn.Parameter(W0.clone())
    mixed = AMSGrad([{"params": [torch_w]}, {"params": [paper_w], "form": "paper"}], lr=0.01)
    alone = nn.Parameter(W0.clone())
    reference = torch.optim.Adam([alone], lr=0.01, amsgrad=True)
    for _ in range(50):
        for opt, params in ((mixed, (torch_w, paper_w)), (reference, (alone,))):
            opt.zero_grad()
            for w in params:
                loss_of(w).backward()
            opt.step()
    assert torch.allclose(torch_w, alone, atol=1e-12, rtol=0)
    assert torch.allclose(paper_w.detach(), amsgrad_algorithm_2(0.01, steps=50)[-1], atol=1e-12)
