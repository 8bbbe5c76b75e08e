"""Search-space definitions, the constraint parser, grids and flags."""

from __future__ import annotations

import numpy as np
import pytest

from datarial.errors import ConstraintError, SpaceError
from datarial.space import Parameter, load_space, parse_constraint, space_from_text

BASE = """
name: s
objective: {name: Jc, unit: A/cm2, goal: maximize}
parameters:
  - {name: T_max, type: continuous, low: 550, high: 900, step: 10, unit: degC}
  - {name: t_hold, type: continuous, low: 0, high: 3000, step: 10, unit: min}
"""


def space_with(params: str = "", constraints: str = "[]", objective: str | None = None):
    text = BASE + params + f"constraints: {constraints}\n"
    if objective:
        text = text.replace("objective: {name: Jc, unit: A/cm2, goal: maximize}", objective)
    return space_from_text(text, source="space.yaml")


def test_yaml_from_the_issue_is_read_with_kinds_units_and_steps(mgb2_space):
    assert mgb2_space.names == ["T_max", "t_hold", "MgB2_frac"]
    assert mgb2_space["T_max"].n_levels == 36
    assert mgb2_space["t_hold"].n_levels == 301
    assert mgb2_space["MgB2_frac"].values == (0, 10, 30)
    assert mgb2_space["T_max"].unit == "degC"
    assert mgb2_space.objective.label == "Jc_4p2K_7T [A/cm2]"


def test_examples_load():
    from datarial.demo import EXAMPLES

    for path in EXAMPLES.glob("*.yaml"):
        assert load_space(path).dim >= 2


def test_space_round_trips_through_dict(mgb2_space):
    from datarial.space import SearchSpace

    assert SearchSpace.from_dict(mgb2_space.to_dict()) == mgb2_space


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("  - {name: x, type: continuous, low: 5, high: 5}\n", "parameters[2] (x): low (5) must be below high (5)"),
        ("  - {name: x, type: continuous, low: 9, high: 1}\n", "low (9) must be below high (1)"),
        ("  - {name: x, type: continuous, low: 0, high: 1, step: 2}\n", "parameters[2] (x).step: 2 is larger than the range"),
        ("  - {name: x, type: continuous, low: 0, high: 1, step: -1}\n", "step: must be positive"),
        ("  - {name: T_max, type: continuous, low: 0, high: 1}\n", "parameters[2].name: duplicate parameter name 'T_max'"),
        ("  - {name: x, type: categorical, values: [1]}\n", "parameters[2] (x).values: expected a list of at least two"),
        ("  - {name: x, type: categorical, values: [1, 1.0]}\n", "values[1]: category 1.0 is listed twice"),
        ("  - {name: x, type: weird, low: 0, high: 1}\n", "parameters[2] (x).type: 'weird' is not one of"),
        ("  - {name: 2x, low: 0, high: 1}\n", "parameters[2].name: '2x' is not a valid name"),
        ("  - {name: x, low: 0}\n", "parameters[2] (x).high: missing"),
        ("  - {name: x, low: a, high: 1}\n", "parameters[2] (x).low: expected a number, got 'a'"),
        ("  - {name: x, low: 0, high: 1, colour: red}\n", "parameters[2]: unknown field 'colour'"),
        ("  - {name: n, type: integer, low: 0.5, high: 3}\n", "integer parameter needs whole-number low and high"),
    ],
)
def test_invalid_parameter_is_refused_naming_the_field(params, message):
    with pytest.raises(SpaceError) as err:
        space_with(params)
    assert message in str(err.value)
    assert str(err.value).startswith("space.yaml")


def test_unknown_name_in_constraint_is_refused():
    with pytest.raises(SpaceError, match=r"constraints\[0\].*unknown parameter 'T'"):
        space_with(constraints='["T + t_hold <= 10"]')


def test_infeasible_constraint_set_is_refused():
    with pytest.raises(SpaceError, match="no point of the parameter ranges satisfies all constraints"):
        space_with(constraints='["T_max + t_hold <= 100"]')


def test_constraint_feasible_only_off_grid_is_refused():
    # 555 <= T_max <= 559 has continuous solutions but no 10-degree grid point.
    with pytest.raises(SpaceError, match="no grid point satisfies"):
        space_with(constraints='["T_max >= 555", "T_max <= 559"]')


def test_bad_yaml_names_line():
    with pytest.raises(SpaceError, match=r"space.yaml: line \d+"):
        space_from_text("name: [unclosed\n", source="space.yaml")


def test_missing_objective_is_refused():
    with pytest.raises(SpaceError, match="objective: missing"):
        space_from_text("name: s\nparameters:\n  - {name: x, low: 0, high: 1}\n", source="f.yaml")


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(SpaceError, match="file not found"):
        load_space(tmp_path / "nope.yaml")


# -- constraint parser ---------------------------------------------------------------------
PARAMS = [Parameter("x1", "continuous", low=0, high=10), Parameter("x10", "continuous", low=0, high=10),
          Parameter("T_max", "continuous", low=0, high=1000), Parameter("t_hold", "continuous", low=0, high=3000)]


def test_constraint_from_the_issue_parses_to_coefficients():
    c = parse_constraint("T_max + 0.1*t_hold <= 1100", PARAMS)
    assert c.coefficients == {"T_max": 1.0, "t_hold": pytest.approx(0.1)}
    assert c.rhs == 1100


def test_names_that_prefix_each_other_do_not_collide():
    c = parse_constraint("x1 + 2*x10 <= 5", PARAMS)
    assert c.coefficients == {"x1": 1.0, "x10": 2.0}


def test_greater_equal_and_terms_on_both_sides_normalise():
    c = parse_constraint("2*(x1 - 1) >= x10/2 + 3", PARAMS)
    # 2 x1 - 2 >= 0.5 x10 + 3  <=>  -2 x1 + 0.5 x10 <= -5
    assert c.coefficients == {"x1": -2.0, "x10": 0.5}
    assert c.rhs == -5.0


def test_scientific_notation_and_unary_minus():
    c = parse_constraint("-1e-1*t_hold + T_max <= 1.5E3", PARAMS)
    assert c.coefficients == {"t_hold": -0.1, "T_max": 1.0}
    assert c.rhs == 1500.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x1 * x10 <= 3", "not linear"),
        ("x1 / x10 <= 3", "not linear"),
        ("__import__('os').system('true') <= 1", "unexpected character"),
        ("x1 <= 2 <= 3", "exactly one comparison"),
        ("x1 + 2", "exactly one comparison"),
        ("x1 == 2", "equality constraints are not supported"),
        ("x1 + <= 2", "expression ends too early"),
        ("(x1 + 1 <= 2", r"missing '\)'"),
        ("3 <= 4", "contains no parameter"),
        ("x1 / 0 <= 4", "division by zero"),
        ("y + x1 <= 4", "unknown parameter 'y'"),
    ],
)
def test_bad_constraints_are_refused_with_a_reason(text, message):
    with pytest.raises(ConstraintError, match=message):
        parse_constraint(text, PARAMS)


# -- grid ----------------------------------------------------------------------------------
def test_grid_values_are_clean_and_snap_to_nearest(mgb2_space):
    p = mgb2_space["T_max"]
    assert p.value_at(3) == 580.0
    assert p.index_of(584.9) == 3 and p.index_of(585.1) == 4
    assert p.index_of(2000) == p.n_levels - 1
    fine = Parameter("x", "continuous", low=0.0, high=0.3, step=0.1)
    assert fine.value_at(np.arange(4)).tolist() == [0.0, 0.1, 0.2, 0.3]


def test_grid_top_is_the_last_step_below_high():
    p = Parameter("x", "continuous", low=0, high=25, step=10)
    assert p.n_levels == 3 and p.grid_high == 20


def test_researcher_points_get_flags(mgb2_space):
    assert mgb2_space.check_point({"T_max": 700, "t_hold": 30, "MgB2_frac": 10}) == []
    assert mgb2_space.check_point({"T_max": 705, "t_hold": 30, "MgB2_frac": 10}) == ["off-grid:T_max"]
    assert mgb2_space.check_point({"T_max": 950, "t_hold": 30, "MgB2_frac": 0}) == ["out-of-range:T_max"]


def test_constraint_violation_is_flagged():
    sp = space_with(constraints='["T_max + 0.1*t_hold <= 1100"]')
    assert sp.check_point({"T_max": 900, "t_hold": 3000}) == ["infeasible:T_max + 0.1*t_hold <= 1100"]


def test_unknown_category_is_refused(mgb2_space):
    with pytest.raises(SpaceError, match=r"20 is not one of the categories \[0, 10, 30\]"):
        mgb2_space.check_point({"T_max": 700, "t_hold": 30, "MgB2_frac": 20})


def test_unit_encoding_spans_zero_to_one(mgb2_space):
    X = mgb2_space.to_unit({"T_max": [550, 900], "t_hold": [0, 3000], "MgB2_frac": [0, 30]})
    assert X.tolist() == [[0.0, 0.0, 0.0], [1.0, 1.0, 2.0]]
