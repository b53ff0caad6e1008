"""Every setting declared once: the estimators, the command's flags and the saved models all read one table."""

from __future__ import annotations

import inspect
import math

import pytest

import gpubp
from gpubp import settings
from gpubp.cli import build_parser
from gpubp.cli.flags import COMMAND_SETTINGS, FLAG_OF, TRAIN_FLAGS, settings_from
from gpubp.errors import ParameterError


def test_each_setting_is_declared_once_with_help_and_a_valid_default():
    names = [s.name for s in settings.SETTINGS]
    assert len(names) == len(set(names))
    for s in settings.SETTINGS:
        assert s.help and s.help[0].isupper() and s.help.endswith("."), s.name
        assert settings.check(s.name, s.default) == s.default or s.default is None, s.name


@pytest.mark.parametrize(("kind", "Est"), [("classifier", gpubp.MLPClassifier), ("regressor", gpubp.MLPRegressor)])
def test_the_estimators_signature_and_docstring_come_from_the_table(kind, Est):
    params = inspect.signature(Est).parameters
    assert list(params) == [s.name for s in settings.settings_for(kind)]
    for s in settings.settings_for(kind):
        assert params[s.name].default == s.default or (params[s.name].default is s.default)
        assert f"{s.name} : {s.valid.describe()}, default={s.default!r}" in Est.__doc__
        assert s.help in Est.__doc__


def test_every_flag_names_a_setting_and_help_shows_every_default():
    table = {s.name for s in settings.SETTINGS} | {s.name for s in COMMAND_SETTINGS}
    assert {f.name for f in TRAIN_FLAGS} <= table
    assert len(FLAG_OF) == len(TRAIN_FLAGS) and len(set(FLAG_OF.values())) == len(TRAIN_FLAGS)
    train = next(a for a in build_parser()._actions if a.dest == "command").choices["train"]
    helps = {opt: action.help for action in train._actions for opt in action.option_strings}
    for f in TRAIN_FLAGS:
        assert "(default: " in helps[f.flag], f.flag
        if f.value != f.setting.default and f.setting in settings.SETTINGS:
            assert "the estimator's" in helps[f.flag], f.flag  # where the command differs, both are said


def test_the_commands_settings_are_valid_estimator_settings():
    params, command = settings_from({})
    settings.validate(params)
    assert params["hidden_layer_sizes"] == (128, 64) and params["early_stopping"] is True
    assert params["solver"] == "adam" and params["learning_rate_init"] == 2e-3 and command["data"] == "digits"
    params, _ = settings_from({"optimizer": "nesterov", "learning_rate_init": 0.5})
    assert (params["solver"], params["momentum"], params["nesterovs_momentum"]) == ("sgd", 0.9, True)
    assert params["learning_rate_init"] == 0.5  # an explicit --lr wins over the preset


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("hidden_layer_sizes", "128,64", (128, 64)),
        ("batch_size", "auto", "auto"),
        ("batch_size", "32", 32),
        ("n_iter_no_change", "inf", math.inf),
        ("random_state", "none", None),
        ("shuffle", "no", False),
        ("alpha", "1e-3", 1e-3),
    ],
)
def test_flag_text_parses_to_the_settings_value(name, text, value):
    assert settings.BY_NAME[name].valid.parse(text) == value


def test_a_bad_value_names_the_parameter_and_what_it_accepts():
    with pytest.raises(ParameterError) as info:
        settings.check("beta_2", 1.0)
    assert str(info.value) == "beta_2=1.0: must be a finite number in [0, 1)"
    assert info.value.params == ("beta_2",) and info.value.values == (1.0,)
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)  # as scikit-learn's
