"""Optional packages are imported on first use, and a missing one names the extra to install."""

from __future__ import annotations

import sys
import types

import pytest

from orchestrator._optional import lazy_module, needs_extra
from orchestrator.errors import MissingDependency, UserError

pytestmark = pytest.mark.install


def test_a_missing_module_raises_missing_dependency_on_first_use() -> None:
    stand_in = lazy_module("no_such_package_here", extra="embeddings", needed_for="the widget")
    with pytest.raises(MissingDependency) as caught:
        _ = stand_in.zeros
    error = caught.value
    assert isinstance(error, UserError) and isinstance(error, ImportError) and error.name == "no_such_package_here"
    assert (error.package, error.extra, error.needed_for) == ("no_such_package_here", "embeddings", "the widget")
    assert error.install == "pip install 'slm-orchestrator[embeddings]'"
    assert str(error) == ("the widget needs no_such_package_here, which is not installed; install it with: "
                          "pip install 'slm-orchestrator[embeddings]'")


def test_probing_special_names_neither_imports_nor_raises_missing_dependency() -> None:
    stand_in = lazy_module("no_such_package_here", extra="embeddings", needed_for="the widget")
    assert not hasattr(stand_in, "__wrapped__")
    assert "no_such_package_here" not in sys.modules
    assert "lazy module 'no_such_package_here'" in repr(stand_in)


def test_the_module_is_imported_at_first_use_then_the_stand_in_is_a_plain_copy() -> None:
    sys.modules.pop("colorsys", None)
    stand_in = lazy_module("colorsys", extra="none", needed_for="a test")
    assert "colorsys" not in sys.modules
    convert = stand_in.rgb_to_hsv
    import colorsys

    assert convert is colorsys.rgb_to_hsv
    assert type(stand_in) is types.ModuleType  # later uses are plain module lookups
    assert stand_in.hsv_to_rgb is colorsys.hsv_to_rgb
    with pytest.raises(AttributeError):
        _ = stand_in.not_in_colorsys


def test_the_agents_use_real_numpy_when_it_is_installed() -> None:
    np = pytest.importorskip("numpy")
    from orchestrator.agents import _grounding

    assert _grounding.select_sentences([[1.0, 0.0], [0.0, 1.0]], None, [3, 3], 3) in ([0], [1])
    assert _grounding.np.asarray is np.asarray


def test_needs_extra_names_the_top_level_package_and_leaves_other_import_errors_alone() -> None:
    with pytest.raises(MissingDependency) as caught, needs_extra("llamacpp", needed_for="in-process models"):
        raise ModuleNotFoundError("No module named 'llama_cpp.llama'", name="llama_cpp.llama")
    assert (caught.value.package, caught.value.extra) == ("llama_cpp", "llamacpp")
    with pytest.raises(ImportError, match="undefined symbol"), needs_extra("llamacpp", needed_for="models"):
        raise ImportError("libggml.so: undefined symbol")
