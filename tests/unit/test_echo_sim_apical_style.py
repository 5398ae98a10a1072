"""The optional 'screen' apical style of the echo simulator (off by default: the 2.1.0 recipe is unchanged)."""
import numpy as np
import pytest

from device.sim import echo_views as v


def test_default_style_is_the_2_1_rendering_and_screen_shrinks_all_apical_views_alike():
    cyc = v.cardiac_state(0.3)
    base = {k: v.scene(k, cyc) for k in ("A4C", "A5C", "A3C", "A2C")}
    assert all(s.ideal_depth_mm == 160.0 for s in base.values())
    try:
        v.set_apical_style("screen")
        for k, s0 in base.items():
            s1 = v.scene(k, cyc)
            assert s1.ideal_depth_mm == 190.0
            assert len(s1.shapes) == len(s0.shapes)
            kinds = {s.kind for s in s1.shapes}
            assert "myo" not in kinds and "wall" not in kinds and "bright" in kinds
            ext0 = np.ptp(np.concatenate([s.points for s in s0.shapes]), axis=0)
            ext1 = np.ptp(np.concatenate([s.points for s in s1.shapes]), axis=0)
            np.testing.assert_allclose(ext1, ext0 * 0.72, rtol=1e-6)
        assert v.scene("PLAX", cyc).ideal_depth_mm == 150.0  # other views untouched
    finally:
        v.set_apical_style("v2.1")
    assert v.scene("A4C", cyc).ideal_depth_mm == 160.0


def test_unknown_style_is_refused():
    with pytest.raises(ValueError, match="valid: v2.1, screen"):
        v.set_apical_style("pretty")
