"""The better student: the head's nearest-neighbour mix fits, saves, loads and predicts the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orchestrator.agents import Classifier, EmbeddingHead
from orchestrator.errors import InputError
from orchestrator.models import ScriptedModel
from orchestrator.models.scripted import hash_embedding
from orchestrator.specialist import SpecialistConfig
from tests.learning.deployment import EMBED_ONLY, TEXTS


def data() -> tuple[np.ndarray, list[str]]:
    texts = [(text, label) for label, some in TEXTS.items() for text in some]
    return np.asarray([hash_embedding(t) for t, _ in texts]), [label for _, label in texts]


def test_the_neighbour_vote_mixes_in_and_survives_a_round_trip(tmp_path: Path) -> None:
    x, labels = data()
    plain = EmbeddingHead.fit_vectors(x, labels, backend="numpy")
    mixed = EmbeddingHead.fit_vectors(x, labels, backend="numpy", knn_weight=0.5, knn_temperature=0.05)
    assert plain.neighbours is None and mixed.neighbours is not None
    probs = mixed.predict_proba(x)
    assert probs.sum(axis=1) == pytest.approx(np.ones(len(labels)))
    assert mixed.predict(x) == labels  # each training text is its own nearest neighbour
    assert not np.allclose(probs, plain.predict_proba(x))
    mixed.save(tmp_path / "head.json")
    loaded = EmbeddingHead.load(tmp_path / "head.json")
    assert loaded.neighbours is not None and loaded.neighbours.weight == 0.5
    assert loaded.predict_proba(x) == pytest.approx(probs, abs=1e-4)


def test_bad_mix_settings_say_what_is_wrong() -> None:
    x, labels = data()
    with pytest.raises(InputError, match=r"knn_weight 1\.5 must be in"):
        EmbeddingHead.fit_vectors(x, labels, knn_weight=1.5)


async def test_the_classifier_options_choose_the_distilled_students_mix(tmp_path: Path) -> None:
    options = {"head_path": str(tmp_path / "head.json"), "head_regularization": 1.0, "head_knn_weight": 0.75,
               "head_knn_temperature": 0.1}
    learner = Classifier(SpecialistConfig(options=options)).learner(ScriptedModel(capabilities=EMBED_ONLY))
    pairs = [({"text": text}, {"label": label}) for label, some in TEXTS.items() for text in some]
    artefact = await learner.fit(pairs)
    head = EmbeddingHead.from_dict(artefact)
    assert head.neighbours is not None and head.neighbours.weight == 0.75 and head.neighbours.temperature == 0.1
    assert learner.regularization == 1.0 and learner.live_path == tmp_path / "head.json"
