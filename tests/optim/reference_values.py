#!/usr/bin/env python3
"""reference_values.py: prints what torch.optim gives on the fixed problem of optimizer_test.cpp,
as C++ initializers to paste into that file (17 significant digits, float64).

The problem keeps the gradient free of any rounding difference between PyTorch and attograd:
it is set by hand each step as g = a * w + c (one multiply, one add: both correctly rounded on
both sides), so any difference left comes from the optimizers' own arithmetic.

Run: /usr/bin/python3 tests/optim/reference_values.py   (needs torch; printed with torch 1.13)
"""
import torch

W0 = [0.5, -1.2, 2.0, 0.0, -0.3]
A = [1.0, 0.5, -0.2, 2.0, 3.0]
C = [0.1, -0.4, 0.3, 0.05, -1.0]
STEPS = 3

# name -> (constructor, kwargs); names match the C++ test's table.
CASES = [
    ("sgd_plain", torch.optim.SGD, dict(lr=0.1)),
    ("sgd_momentum", torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    ("sgd_dampening", torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.5)),
    ("sgd_nesterov", torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("sgd_weight_decay", torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("sgd_maximize", torch.optim.SGD, dict(lr=0.1, momentum=0.5, weight_decay=0.1, maximize=True)),
    ("adam_default", torch.optim.Adam, dict(lr=0.01)),
    ("adam_options", torch.optim.Adam, dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
    ("adam_amsgrad", torch.optim.Adam, dict(lr=0.5, betas=(0.9, 0.5), amsgrad=True)),
    ("adamw_default", torch.optim.AdamW, dict(lr=0.01)),
    ("adamw_decay", torch.optim.AdamW, dict(lr=0.05, betas=(0.9, 0.95), weight_decay=0.1)),
    ("adamw_amsgrad", torch.optim.AdamW, dict(lr=0.5, betas=(0.9, 0.5), weight_decay=0.1,
                                             amsgrad=True)),
]


def run(ctor, kwargs, dtype):
    w = torch.tensor(W0, dtype=dtype, requires_grad=True)
    a = torch.tensor(A, dtype=dtype)
    c = torch.tensor(C, dtype=dtype)
    opt = ctor([w], **kwargs)
    steps = []
    for _ in range(STEPS):
        with torch.no_grad():
            w.grad = a * w + c
        opt.step()
        steps.append(w.detach().tolist())
    state = opt.state[w]
    if "max_exp_avg_sq" in state:  # the AMSGrad cases must exercise the max
        assert not torch.equal(state["max_exp_avg_sq"], state["exp_avg_sq"]), "amsgrad unused"
    return steps


def main():
    print(f"// printed by tests/optim/reference_values.py with torch {torch.__version__}")
    for dtype, label in ((torch.float64, "kTorchFloat64"), (torch.float32, "kTorchFloat32")):
        print(f"const std::vector<Reference> {label} = {{")
        for name, ctor, kwargs in CASES:
            steps = run(ctor, kwargs, dtype)
            rows = ",\n      ".join("{" + ", ".join(f"{x:.17g}" for x in s) + "}" for s in steps)
            print(f'    {{"{name}",\n     {{{rows}}}}},')
        print("};")


if __name__ == "__main__":
    main()
