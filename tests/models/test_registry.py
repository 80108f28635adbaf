"""The model registry: listing, building by name, and the errors for unknown names and arguments."""

import pytest

from lucidnn.models import MLP, get_model, list_models, register_model, registry


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry that a test may add to without leaking into other tests."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_list_models_gives_names_with_one_line_descriptions():
    models = list_models()
    assert all(isinstance(name, str) and isinstance(text, str) for name, text in models)
    descriptions = dict(models)
    assert "mlp" in descriptions
    assert descriptions["mlp"] and "\n" not in descriptions["mlp"]
    assert [name for name, _ in models] == sorted(name for name, _ in models)


@pytest.mark.parametrize("name", ["mlp", "MLP", " Mlp "])
def test_get_model_builds_by_case_insensitive_name(name):
    model = get_model(name, in_features=8, hidden_sizes=(4,), num_classes=3)
    assert isinstance(model, MLP) and model.model_name == "mlp"


def test_unknown_name_lists_the_available_models():
    with pytest.raises(ValueError, match=r"unknown model 'resnet9000'; available models: .*mlp"):
        get_model("resnet9000")


@pytest.mark.parametrize("name", ["", "   ", None, 3])
def test_name_must_be_a_non_empty_string(name):
    with pytest.raises(ValueError, match="non-empty string"):
        get_model(name)


def test_unknown_keyword_names_what_the_builder_accepts():
    with pytest.raises(TypeError, match=r"get_model\('mlp'\): .*hidden_size.*accepts: in_features, num_classes"):
        get_model("mlp", hidden_size=3)


@pytest.mark.usefixtures("scratch_registry")
def test_register_model_adds_a_builder_and_refuses_a_taken_name():
    @register_model("tiny", description="A tiny test model.")
    def tiny(width=2):
        return MLP(width, (), 2)

    assert ("tiny", "A tiny test model.") in list_models()
    assert get_model("tiny", width=5).in_features == 5
    register_model("tiny")(tiny)  # the same builder again is fine (a module reload)

    def other():
        """Another model."""

    with pytest.raises(ValueError, match="'tiny' is already taken"):
        register_model("TINY")(other)
    register_model("other")(other)
    assert ("other", "Another model.") in list_models()


@pytest.mark.usefixtures("scratch_registry")
def test_register_model_needs_a_callable():
    with pytest.raises(TypeError, match="callable"):
        register_model("thing")(42)
