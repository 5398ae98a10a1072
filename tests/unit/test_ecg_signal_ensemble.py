"""The ecg_signal seed ensemble (models/training/ecg_signal_ensemble.py): one graph whose logits are the logit of the
members' mean probability, and a member rebuilt from a recipe-exported ONNX file gives the same logits."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")


def _nets(n: int):
    from models.training.ecg_signal import make_net

    nets = []
    for k in range(n):
        torch.manual_seed(k)
        net = make_net()
        with torch.no_grad():
            for p in net.parameters():  # distinct members
                p.add_(torch.randn_like(p) * 0.02)
            net.head.weight.mul_(300.0)  # logits of a few units, so the sigmoid tails matter
        nets.append(net.eval())
    return nets


def test_ensemble_logit_is_the_logit_of_the_mean_member_probability():
    from models.training.ecg_signal_ensemble import make_ensemble

    nets = _nets(3)
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(4, 24, 1, 1000)).astype(np.float32))
    with torch.no_grad():
        z = np.stack([n(x).numpy() for n in nets]).astype(np.float64)
        got = make_ensemble(nets)(x).numpy()
    p = (1 / (1 + np.exp(-z))).mean(0)
    assert np.abs(z).max() > 1.0
    np.testing.assert_allclose(got, np.log(p / (1 - p)), atol=2e-3)
    with torch.no_grad():  # one member: the ensemble is that member
        np.testing.assert_allclose(make_ensemble(nets[:1])(x).numpy(), z[0], atol=2e-3)


def test_member_rebuilt_from_exported_onnx_matches(tmp_path):
    import onnxruntime as ort

    from models.training.ecg_signal_ensemble import member_from_onnx

    net = _nets(1)[0]
    x = np.random.default_rng(1).normal(size=(1, 24, 1, 1000)).astype(np.float32)
    f = tmp_path / "m.onnx"
    torch.onnx.export(net, (torch.from_numpy(x),), str(f), input_names=["signal"], output_names=["logits"],
                      opset_version=17, dynamo=False)
    ref = ort.InferenceSession(str(f), providers=["CPUExecutionProvider"]).run(None, {"signal": x})[0]
    with torch.no_grad():
        got = member_from_onnx(f)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4)
