"""The CoST op against the three-conv3d reference of the spec."""

import pytest
import torch

from cost_cli.model.cost_op import CoST, cost_reference


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("kind", ["a", "b"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("shape", [(2, 6, 5, 9, 7), (1, 4, 3, 11, 13), (3, 8, 8, 8, 8)])
def test_op_equals_reference(kind, stride, shape):
    torch.manual_seed(stride * 7 + len(kind))
    n, c, t, h, w = shape
    op = CoST(c, 10, kind=kind, stride=(1, stride, stride))
    with torch.no_grad():  # non-trivial coefficients, not the init
        if kind == "a":
            op.alpha.normal_()
        else:
            op.fc1.weight.normal_()
            op.fc2.weight.normal_()
    x = torch.randn(n, c, t, h, w)
    ref = cost_reference(x, op.weight, op.alpha if kind == "a" else None, stride=(1, stride, stride),
                         fc1=op.fc1.weight if kind == "b" else None, fc2=op.fc2.weight if kind == "b" else None)
    y = op(x)
    assert y.shape == ref.shape
    assert rel_err(y, ref) <= 1e-5


def test_reference_matches_hand_computation():
    """The reference itself: one channel, a kernel with a single tap, known coefficients."""
    w = torch.zeros(1, 1, 1, 3, 3)
    w[0, 0, 0, 1, 2] = 1.0  # i=1 (centre), j=2
    alpha = torch.tensor([[0.0], [0.0], [0.0]])  # equal thirds
    x = torch.arange(27, dtype=torch.float32).view(1, 1, 3, 3, 3)
    y = cost_reference(x, w, alpha)
    # hw view: tap at (t=0,h=+0,w=+1) -> x[t,h,w+1]; tw view: (t=+0,w=+1); th view: (t=+0,h=+1)
    hw = torch.zeros_like(x); hw[..., :, :, :2] = x[..., :, :, 1:]
    tw = hw.clone()
    th = torch.zeros_like(x); th[..., :, :2, :] = x[..., :, 1:, :]
    assert torch.allclose(y, (hw + tw + th) / 3, atol=1e-6)


def test_gradients_flow_through_coefficients():
    op = CoST(4, 4, kind="a")
    op(torch.randn(1, 4, 4, 6, 6)).sum().backward()
    assert op.alpha.grad is not None and op.alpha.grad.abs().sum() > 0
    opb = CoST(4, 4, kind="b")
    opb(torch.randn(2, 4, 4, 6, 6)).square().sum().backward()
    assert opb.fc1.weight.grad.abs().sum() > 0 and opb.fc2.weight.grad.abs().sum() > 0


def test_initial_alpha_matches_spec():
    op = CoST(3, 5, kind="a")
    assert torch.all(op.alpha[0] == 0.7) and torch.all(op.alpha[1:] == -0.7)
    assert op.weight.shape == (5, 3, 1, 3, 3)
    assert CoST(3, 5, kind="b").fc2.weight.shape == (3, 3)


@pytest.mark.parametrize("shape", [(2, 6, 5, 9, 7), (1, 4, 1, 1, 5), (1, 3, 2, 1, 1), (3, 8, 8, 8, 8)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_shared_rows_views_equal_three_convs(shape, channels_last):
    """The shared-rows form gives the same three view outputs (fp64 to rounding)."""
    from cost_cli.model.cost_op import views_shared_rows, views_three_convs

    torch.manual_seed(sum(shape))
    x = torch.randn(*shape, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    w = torch.randn(5, shape[1], 1, 3, 3, dtype=torch.float64)
    for fast, ref in zip(views_shared_rows(x, w), views_three_convs(x, w)):
        assert fast.shape == ref.shape
        assert rel_err(fast, ref) <= 1e-12


@pytest.mark.parametrize("stride", [1, 2])
def test_cost_b_with_shared_rows_equals_reference(stride):
    torch.manual_seed(3)
    op = CoST(8, 12, kind="b", stride=(1, stride, stride)).eval()
    with torch.no_grad():
        op.fc1.weight.normal_()
        op.fc2.weight.normal_()
    op.shared_rows = True
    x = torch.randn(2, 8, 6, 14, 10).contiguous(memory_format=torch.channels_last_3d)
    with torch.inference_mode():
        ref = cost_reference(x, op.weight, stride=(1, stride, stride), fc1=op.fc1.weight,
                             fc2=op.fc2.weight)
        assert rel_err(op(x), ref) <= 1e-5


@pytest.mark.parametrize("shape", [(4, 16, 8, 56, 56), (2, 8, 5, 9, 7), (1, 3, 1, 1, 1), (2, 16, 3, 4, 4),
                                   (2, 40, 2, 6, 6)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_global_max_equals_amax(shape, channels_last):
    from cost_cli.model.cost_op import global_max

    torch.manual_seed(len(shape) + shape[1])
    y = torch.randn(*shape)
    if channels_last:
        y = y.contiguous(memory_format=torch.channels_last_3d)
    assert torch.equal(global_max(y), y.amax(dim=(2, 3, 4)))


def test_shared_rows_only_in_fp32_on_the_cpu():
    from cost_cli.model.cost_op import shared_rows_fits

    x = torch.zeros(1, 4, 4, 28, 28)
    assert shared_rows_fits(x, (1, 1, 1))
    assert not shared_rows_fits(x, (1, 2, 2))
    assert not shared_rows_fits(torch.zeros(1, 4, 4, 29, 28), (1, 1, 1))
    assert not shared_rows_fits(x.bfloat16(), (1, 1, 1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not shared_rows_fits(x, (1, 1, 1))
