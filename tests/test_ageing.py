"""demography.ageing: the one-year ageing step shared by base and components."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from assen_demand.demography.ageing import age_one_year


def test_hand_worked_open_age_group():
    # ages 0, 1, 2+ of one area and two sexes; made by hand:
    # male: 10 * 0.9 = 9 at age 1; 20 * 0.8 + 30 * 0.5 = 31 at 2+; female all survive: 0, 1, 2 -> 0, 1, 5
    pop = np.array([[[10.0, 20.0, 30.0], [1.0, 2.0, 3.0]]])
    surv = np.array([[0.9, 0.8, 0.5], [1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(age_one_year(pop, surv), [[[0.0, 9.0, 31.0], [0.0, 1.0, 5.0]]])


@settings(max_examples=30, deadline=None)
@given(pop=arrays(np.float64, (3, 2, 101), elements=st.floats(0, 1e4, allow_nan=False)),
       surv=arrays(np.float64, (2, 101), elements=st.floats(0, 1, allow_nan=False)))
def test_survivors_are_conserved_and_nobody_is_born(pop, surv):
    aged = age_one_year(pop, surv)
    assert (aged[..., 0] == 0).all() and (aged >= 0).all()
    np.testing.assert_allclose(aged.sum(axis=-1), (pop * surv[None]).sum(axis=-1), rtol=1e-12, atol=1e-9)
    # with everyone surviving each cohort moves up one year exactly
    moved = age_one_year(pop, np.ones((2, 101)))
    np.testing.assert_array_equal(moved[..., 1:100], pop[..., :99])
