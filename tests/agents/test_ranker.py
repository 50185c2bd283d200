"""The learned span ranker: fitted on labelled texts, saved as JSON, calibrated, and used by the extractor."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from orchestrator.agents import Extractor
from orchestrator.agents._ranker import (
    FORMAT,
    VERSION,
    FitOptions,
    LabelledDocument,
    SpanRanker,
    _platt,
    read_labelled,
)
from orchestrator.agents._span_features import Document, candidate_pool, same_value, squeeze, token_f1
from orchestrator.agents.extractor import ExtractorInput
from orchestrator.errors import ConfigError, InputError
from orchestrator.interfaces.cli import main as cli_main
from orchestrator.models.scripted import FunctionModel, ScoreCall
from orchestrator.specialist import SpecialistConfig

SHOPS = ["KEDAI MAJU", "PASARAYA INDAH", "RESTORAN SERI", "TOKO BARU", "GERAI MURNI", "SYARIKAT JAYA"]
KINDS = {"company": "company", "total": "money", "date": "date"}


def receipt(rng: random.Random) -> LabelledDocument:
    """A receipt whose total sits under ``JUMLAH`` (a label the priors do not know) and whose
    cash paid is larger, with the shop's name over two lines."""
    shop = rng.choice(SHOPS)
    first, second = rng.randint(100, 2000) / 100, rng.randint(100, 2000) / 100
    total = round(first + second, 2)
    cash = round(total + rng.randint(100, 5000) / 100, 2)
    day, month = rng.randint(1, 28), rng.randint(1, 12)
    text = "\n".join([
        "RESIT", shop, "ENTERPRISE", f"NO {rng.randint(1, 99)} JALAN {rng.choice(['API', 'BATU', 'EMAS'])}",
        f"TARIKH {day:02d}/{month:02d}/2019", "BARANG", f"{first:.2f}", f"{second:.2f}", "JUMLAH", f"{total:.2f}",
        "TUNAI", f"{cash:.2f}", "BAYARAN", f"{cash:.2f}", "BAKI", f"{cash - total:.2f}", "TERIMA KASIH",
    ])
    return LabelledDocument(text=text, fields={"company": f"{shop} ENTERPRISE", "total": f"{total:.2f}",
                                               "date": f"{day:02d}/{month:02d}/2019"})


def receipts(n: int, seed: int) -> list[LabelledDocument]:
    rng = random.Random(seed)
    return [receipt(rng) for _ in range(n)]


@pytest.fixture(scope="module")
def ranker() -> SpanRanker:
    return SpanRanker.fit(receipts(40, seed=1), kinds=KINDS, options=FitOptions(epochs=8))


def top(ranker: SpanRanker, doc: LabelledDocument, field: str) -> str:
    return ranker.rank(doc.text, field, KINDS[field]).spans[0].value  # type: ignore[arg-type]


def test_fitted_ranker_finds_the_labelled_fields_on_unseen_receipts(ranker: SpanRanker) -> None:
    for doc in receipts(10, seed=2):
        for field in ("company", "total", "date"):
            assert same_value(top(ranker, doc, field), doc.fields[field], KINDS[field]), (field, doc.text)  # type: ignore[arg-type]


def test_the_ranker_learns_what_the_priors_miss(ranker: SpanRanker) -> None:
    doc = receipts(1, seed=3)[0]
    plain = Extractor(SpecialistConfig(options={"grounded": True}))
    priors, _ = plain._candidates(doc.text, [s for s in _specs() if s.name == "total"])
    assert not same_value(priors["total"][0][0], doc.fields["total"], "money")  # the larger cash amount leads
    assert same_value(top(ranker, doc, "total"), doc.fields["total"], "money")


def test_joined_lines_are_candidates_for_multi_line_names() -> None:
    doc = Document("PASARAYA BORONG PINTAR\nSDN BHD (124525-H)\nNO 19 JALAN TASIK\n14/03/2018")
    values = {span.value for span in candidate_pool(doc, "company")}
    assert "PASARAYA BORONG PINTAR SDN BHD" in values  # joined, registration number cut
    assert "PASARAYA BORONG PINTAR SDN BHD (124525-H) NO 19 JALAN TASIK" in values


def test_save_and_load_round_trip_as_versioned_json(ranker: SpanRanker, tmp_path: Path) -> None:
    path = tmp_path / "ranker.json"
    ranker.save(path)
    saved = json.loads(path.read_text())
    assert saved["format"] == FORMAT and saved["version"] == VERSION
    assert set(saved["fields"]) == {"company", "total", "date"}
    loaded = SpanRanker.load(path)
    doc = receipts(1, seed=4)[0]
    assert loaded.rank(doc.text, "total", "money") == ranker.rank(doc.text, "total", "money")


def test_loading_refuses_other_files_and_versions(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"labels": []}))
    with pytest.raises(ConfigError, match="is not a span ranker"):
        SpanRanker.load(other)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"format": FORMAT, "version": VERSION + 1, "fields": {}}))
    with pytest.raises(ConfigError, match="train it again"):
        SpanRanker.load(newer)
    with pytest.raises(ConfigError, match="cannot read"):
        SpanRanker.load(tmp_path / "missing.json")


def test_calibration_maps_sure_scores_high_and_unsure_ones_low() -> None:
    points = [(0.95, True)] * 18 + [(0.95, False)] * 2 + [(0.4, False)] * 15 + [(0.4, True)] * 5
    a, b = _platt(points)
    ranker = SpanRanker({})
    assert ranker.fields == {}
    import math

    def calibrated(p: float) -> float:
        return 1 / (1 + math.exp(-(a * math.log(p / (1 - p)) + b)))

    assert 0.8 < calibrated(0.95) < 0.95  # 90% of the sure tops were right
    assert 0.15 < calibrated(0.4) < 0.35  # 25% of the unsure ones
    assert _platt([(0.9, True)] * 5) == (1.0, 0.0)  # nothing to calibrate on: identity


def test_confidence_is_a_probability_and_lower_on_ambiguous_texts(ranker: SpanRanker) -> None:
    doc = receipts(1, seed=5)[0]
    clear = ranker.rank(doc.text, "total", "money")
    assert 0.0 <= clear.confidence <= 1.0
    assert abs(sum(s.probability for s in clear.spans) - 1.0) < 1e-9
    ambiguous = ranker.rank("4.00\n5.00\n6.00", "total", "money")
    assert ambiguous.confidence < clear.confidence


def _specs() -> list:  # type: ignore[type-arg]
    from orchestrator.agents.extractor import field_specs

    return field_specs(ExtractorInput(text="", fields={"company": "company", "total": "number", "date": "date"}))


def scorer_counting(calls: list[ScoreCall]) -> FunctionModel:
    def score(call: ScoreCall) -> list[float]:
        calls.append(call)
        return [0.0] * len(call.options)

    return FunctionModel(lambda call: "{}", scorer=score)


async def test_extractor_uses_the_configured_ranker_and_asks_the_model_only_when_unsure(
    ranker: SpanRanker, tmp_path: Path
) -> None:
    path = tmp_path / "ranker.json"
    ranker.save(path)
    doc = receipts(1, seed=6)[0]
    request = ExtractorInput(text=doc.text, fields={"company": "company", "total": "number", "date": "date"})
    calls: list[ScoreCall] = []
    sure = Extractor(SpecialistConfig(options={"grounded": True, "ranker_path": str(path), "ranker_confidence": 0}))
    verdict = await sure.attempt(request, scorer_counting(calls))
    assert verdict.output is not None and not calls
    assert verdict.output.data["total"] == float(doc.fields["total"])
    assert verdict.output.data["company"] == doc.fields["company"]
    unsure = Extractor(SpecialistConfig(options={"grounded": True, "ranker_path": str(path), "ranker_confidence": 1}))
    verdict = await unsure.attempt(request, scorer_counting(calls))
    asked = {call.prompt.rsplit("what is the ", 1)[1].split("?")[0] for call in calls}
    assert asked == {"company", "total"}  # the model chose among the ranked spans (one date: nothing to ask)
    assert verdict.output is not None and verdict.output.data["total"] == float(doc.fields["total"])


async def test_without_a_ranker_the_priors_rank_and_unknown_fields_fall_back(ranker: SpanRanker,
                                                                             tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at least one labelled document"):
        SpanRanker.fit([])
    with pytest.raises(InputError, match="no model for field"):
        ranker.rank("x", "email", "email")
    path = tmp_path / "ranker.json"
    ranker.save(path)
    text = "ACME LTD\nInvoice No: INV-7\nTOTAL 9.50"
    fields = {"invoice_number": "the invoice number", "total": "number"}
    with_ranker = Extractor(SpecialistConfig(options={"grounded": True, "ranker_path": str(path)}))
    candidates, sure = with_ranker._candidates(text, [s for s in _specs_of(fields)])
    assert "invoice_number" not in sure and candidates["invoice_number"][0][0] == "INV-7"  # priors
    assert "total" in sure


def _specs_of(fields: dict[str, str]) -> list:  # type: ignore[type-arg]
    from orchestrator.agents.extractor import field_specs

    return field_specs(ExtractorInput(text="", fields=fields))


def test_read_labelled_takes_fields_or_entities_and_names_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "A", "fields": {"total": "1.00"}}\n\n{"text": "B", "entities": {"date": "1/2/2019"}}\n')
    docs = read_labelled(path)
    assert [d.fields for d in docs] == [{"total": "1.00"}, {"date": "1/2/2019"}]
    path.write_text('{"text": "A", "fields": {}}\nnot json\n')
    with pytest.raises(InputError, match=r"docs.jsonl:2"):
        read_labelled(path)



def test_train_extractor_command_saves_a_loadable_ranker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples = tmp_path / "train.jsonl"
    examples.write_text("".join(json.dumps({"text": d.text, "fields": d.fields}) + "\n" for d in receipts(20, 7)))
    out = tmp_path / "rankers" / "receipts.json"
    code = cli_main(["train", "extractor", str(examples), "--out", str(out), "--epochs", "4",
                     "--schema", '{"company": "company", "total": "number", "date": "date"}', "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["documents"] == 20 and summary["fields"]["total"]["kind"] == "money"
    assert set(SpanRanker.load(out).fields) == {"company", "total", "date"}


def test_train_extractor_command_names_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["train", "extractor", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "r.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert "nope.jsonl" in err and err.count("\n") == 1


def test_word_f1_gives_partial_credit_by_words() -> None:
    assert token_f1("LOT 3, 40300 SHAH ALAM", "LOT 3, JALAN PELABUR 23/1, 40300 SHAH ALAM") == pytest.approx(10 / 14)
    assert token_f1("NO 1 JALAN", "no 1, jalan") == 1.0
    assert token_f1("", "LOT 3") == 0.0 and token_f1("TOKO", "LOT 3") == 0.0


def addressed(rng: random.Random) -> LabelledDocument:
    """A receipt whose labelled address holds a street line the OCR text lost (as in SROIE)."""
    doc = receipt(rng)
    lines = doc.text.splitlines()
    street, town = lines[3], f"{rng.randint(40000, 49999)} SHAH ALAM"
    lines[3:4] = [street, town, f"TEL: 03-{rng.randint(1000000, 9999999)}"]
    return LabelledDocument(text="\n".join(lines),
                            fields={**doc.fields, "address": f"{street}, JALAN HILANG 9, {town}"})


def test_a_field_no_span_equals_still_learns_from_the_span_holding_most_of_it() -> None:
    rng = random.Random(5)
    train = [addressed(rng) for _ in range(30)]
    kinds = {**KINDS, "address": "address"}
    exact = SpanRanker.fit(train, kinds=kinds, options=FitOptions(epochs=6, partial_credit=None))  # type: ignore[arg-type]
    partial = SpanRanker.fit(train, kinds=kinds, options=FitOptions(epochs=6))  # type: ignore[arg-type]
    assert "address" not in exact.fields  # no span equals any label: nothing to learn from
    assert partial.fields["address"].coverage == 1.0
    doc = addressed(random.Random(6))
    best = partial.rank(doc.text, "address", "address").spans[0].value
    lines = doc.text.splitlines()
    assert squeeze(best) == squeeze(f"{lines[3]} {lines[4]}")  # the street and the town, not the phone
